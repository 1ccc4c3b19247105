"""Requests at the account's rate limit: talkline's AsyncClient vs naive asyncio.gather.

The scripted server enforces RPM/TPM as one-second buckets refilled continuously (like
OpenAI's sub-minute enforcement) and answers after `--latency` seconds.

Run: python bench/bench_ratelimit.py [--requests 5000] [--rpm 3000] [--tpm 1000000]
         [--latency 0.2] [--concurrency 500] [--skip-naive]
Prints achieved requests/min as a fraction of the limit, the 429s the server sent, and
failures, for both clients.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from talkline.client import AsyncClient
from talkline.testing import ScriptedServer

PROMPT = "Summarise the plot of a short story about a lighthouse keeper in two sentences."


async def talkline_run(url: str, n: int, concurrency: int, max_tokens: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async with AsyncClient(api_key="sk-bench-fake", base_url=url, retries=8,
                           max_connections=concurrency) as client:

        async def one(i: int) -> None:
            nonlocal failures
            async with sem:
                try:
                    await client.complete(f"{PROMPT} #{i}", max_tokens=max_tokens)
                except Exception:
                    failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "failures": failures}


async def naive_run(url: str, n: int, concurrency: int, max_tokens: int) -> dict[str, Any]:
    """What people write: gather everything, a semaphore, retry on 429 after a fixed pause."""
    import httpx

    sem = asyncio.Semaphore(concurrency)
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def one(i: int) -> None:
            nonlocal failures
            body = {"model": "gpt-4o-mini", "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": f"{PROMPT} #{i}"}]}
            async with sem:
                for _attempt in range(9):
                    r = await http.post(f"{url}/chat/completions", json=body,
                                        headers={"Authorization": "Bearer sk-bench-fake"})
                    if r.status_code == 200:
                        return
                    await asyncio.sleep(1.0)
                failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "failures": failures}


def measure(name: str, runner: Any, args: argparse.Namespace) -> dict[str, Any]:
    with ScriptedServer(rpm=args.rpm, tpm=args.tpm, latency=args.latency) as srv:
        out = asyncio.run(runner(srv.url, args.requests, args.concurrency, args.max_tokens))
        stats = srv.stats
    rpm = args.requests / out["elapsed"] * 60
    sent = stats["requests"]
    return {
        "name": name,
        "elapsed": out["elapsed"],
        "rpm": rpm,
        "fraction": rpm / args.rpm,
        "429s": stats["429"],
        "429_share": stats["429"] / max(sent, 1),
        "failures": out["failures"],
        "sent": sent,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--rpm", type=float, default=3000)
    ap.add_argument("--tpm", type=float, default=1_000_000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()
    print(f"{args.requests} requests, limit {args.rpm:g} RPM / {args.tpm:g} TPM, "
          f"{args.latency * 1000:g} ms latency, {args.concurrency} concurrent tasks")
    rows = [measure("talkline AsyncClient", talkline_run, args)]
    if not args.skip_naive:
        rows.append(measure("naive gather + fixed 1 s retry", naive_run, args))
    print(f"{'client':34} {'wall s':>8} {'req/min':>9} {'of limit':>9} {'429s':>7} "
          f"{'429 %':>7} {'failed':>7}")
    for r in rows:
        print(f"{r['name']:34} {r['elapsed']:8.1f} {r['rpm']:9.0f} {r['fraction']:9.1%} "
              f"{r['429s']:7d} {r['429_share']:7.2%} {r['failures']:7d}")


if __name__ == "__main__":
    main()
