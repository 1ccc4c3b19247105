"""The gateway's cost: `talkline serve` in front of the scripted server, against the
scripted server direct.

1. Added latency, one request at a time (keep-alive, non-streamed): p50 and p99 of the
   gateway's round trip minus the direct one's (the gateway checks the body, routes,
   goes through the client core and its limiter, and stores the exchange in SQLite).
2. 200 concurrent streams through the gateway: errors and the total time.
3. The gateway process's memory (RSS) at rest and at its peak under that load.

Run: python bench/bench_gateway.py [--requests 500] [--streams 200]
Targets: p50 overhead <= 2 ms, p99 <= 10 ms, 200 concurrent streams with no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from talkline.testing import Reply, ScriptedServer

SRC = str(Path(__file__).resolve().parents[1] / "src")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}


def start_gateway(upstream: str, home: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, OPENAI_BASE_URL=upstream, OPENAI_API_KEY="sk-bench-upstream",
               TALKLINE_HOME=home, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "talkline", "serve", "--port", "0",
                             "--no-auth"], env=env, stderr=subprocess.PIPE, text=True,
                            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"http://\S+/v1", line)
    if found is None:
        proc.kill()
        raise SystemExit(f"talkline serve did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    return proc, found.group(0)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timings(url: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"authorization": "Bearer sk-bench-client"},
                      timeout=30) as c:
        for _ in range(20):  # warm up: connections, imports, the limiter's first probe
            c.post("/chat/completions", json=BODY).raise_for_status()
        for _ in range(n):
            start = time.perf_counter()
            c.post("/chat/completions", json=BODY).raise_for_status()
            out.append(time.perf_counter() - start)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def streams(url: str, n: int) -> tuple[int, float]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers={"authorization": "Bearer sk-bench-client"}) as c:

        async def one() -> None:
            nonlocal errors
            try:
                async with c.stream("POST", "/chat/completions",
                                    json={**BODY, "stream": True}) as r:
                    text = "".join([t async for t in r.aiter_text()])
                if r.status_code != 200 or not text.rstrip().endswith("data: [DONE]"):
                    errors += 1
            except httpx.HTTPError:
                errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return errors, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--streams", type=int, default=200)
    args = ap.parse_args()
    with ScriptedServer() as up, tempfile.TemporaryDirectory() as home:
        proc, gw = start_gateway(up.url, home)
        try:
            direct = timings(up.url, args.requests)
            through = timings(gw, args.requests)
            d50, d99 = pct(direct, 50), pct(direct, 99)
            g50, g99 = pct(through, 50), pct(through, 99)
            print(f"one at a time, {args.requests} requests (ms):")
            print(f"  direct   p50 {d50 * 1e3:7.2f}  p99 {d99 * 1e3:7.2f}")
            print(f"  gateway  p50 {g50 * 1e3:7.2f}  p99 {g99 * 1e3:7.2f}")
            print(f"  added    p50 {(g50 - d50) * 1e3:7.2f}  p99 {(g99 - d99) * 1e3:7.2f}"
                  "   (targets: 2 and 10)")
            rest = rss_mb(proc.pid)
            up.default = Reply("one two three four five six seven eight", chunk_delay=0.01)
            peak = [rest]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak.append(rss_mb(proc.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            errors, elapsed = asyncio.run(streams(gw, args.streams))
            stop.set()
            sampler.join()
            direct_errors, direct_elapsed = asyncio.run(streams(up.url, args.streams))
            print(f"{args.streams} concurrent streams: {errors} errors, {elapsed:.2f} s in all "
                  f"(direct: {direct_errors} errors, {direct_elapsed:.2f} s; target: no errors)")
            print(f"gateway RSS: {rest:.1f} MB at rest, {max(peak):.1f} MB at peak under load")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


if __name__ == "__main__":
    main()
