"""`talkline batch run` on the cookbook's load: at the account's limit, client overhead, memory.

1. rate: N requests (default 10,000) against the scripted server enforcing 3,000 RPM /
   1,000,000 TPM with 300 ms latency (about 200 s). Reports wall time, achieved requests
   per minute as a fraction of the limit, 429s the server sent, failures.
2. overhead: no limit, 50 ms latency, the server in another process: requests/s and the
   client's CPU time per request.
3. memory: peak RSS of a process running a 100,000-line input (a fast server in another
   process), sampled as it goes, to show it stays flat.
4. optional (--cookbook, in table 1): the OpenAI cookbook's `api_request_parallel_processor.py`
   algorithm (two buckets starting full with a minute's worth, a 15 s pause for everyone
   after any 429, up to 5 attempts with no backoff), reimplemented, on the same load.

Run: python bench/bench_batch.py [--requests 10000] [--memory-lines 100000]
         [--cookbook [--cookbook-requests 1000]] [--skip rate,overhead,memory]
The memory figures read /proc (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from talkline.batch import BatchRunner, batch_client, iter_requests, scan_input
from talkline.settings import Settings
from talkline.testing import ScriptedServer

PROMPT = "Summarise the plot of a short story about a lighthouse keeper in two sentences."
MAX_TOKENS = 200


def write_input(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            body = {"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
                    "messages": [{"role": "user", "content": f"{PROMPT} #{i}"}]}
            fh.write(json.dumps({"custom_id": f"r{i}", "method": "POST",
                                 "url": "/v1/chat/completions", "body": body}) + "\n")
    return path


async def talkline_run(url: str, path: Path, output: Path, concurrency: int
                       ) -> dict[str, Any]:
    settings = Settings.resolve(api_key="sk-bench-fake", base_url=url)
    report = scan_input(path)
    runner = BatchRunner(None, output, concurrency=concurrency)
    async with batch_client(settings, concurrency=concurrency,
                            on_retry=runner.note_retry) as client:
        runner.client = client
        start = time.perf_counter()
        cpu = time.process_time()
        summary = await runner.run(iter_requests(path, report=report), total=report.valid)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return {"elapsed": elapsed, "failures": summary.failed + (summary.not_run or 0),
            "answered": summary.succeeded, "cpu": cpu}


async def cookbook_run(url: str, path: Path, rpm: float, tpm: float) -> dict[str, Any]:
    """The cookbook's dispatch loop, faithfully: see the module doc."""
    import httpx

    pause_after_429 = 15.0
    requests_left = [json.loads(line)["body"] for line in open(path, encoding="utf-8")]
    queue: list[tuple[dict[str, Any], int]] = [(b, 5) for b in reversed(requests_left)]
    retry: list[tuple[dict[str, Any], int]] = []
    state = {"last_429": -1e9, "failures": 0, "in_flight": 0, "done": 0}
    cap_r, cap_t, last = rpm, tpm, time.monotonic()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def call(body: dict[str, Any], attempts: int) -> None:
            try:
                r = await http.post(f"{url}/chat/completions", json=body,
                                    headers={"Authorization": "Bearer sk-bench-fake"})
                ok = r.status_code == 200
                if r.status_code == 429:
                    state["last_429"] = time.monotonic()
            except httpx.HTTPError:
                ok = False
            state["in_flight"] -= 1
            if ok:
                state["done"] += 1
            elif attempts > 1:
                retry.append((body, attempts - 1))
            else:
                state["failures"] += 1

        start = time.perf_counter()
        pending: tuple[dict[str, Any], int] | None = None
        while True:
            if pending is None:
                if retry:
                    pending = retry.pop(0)
                elif queue:
                    pending = queue.pop()
            now = time.monotonic()
            cap_r = min(rpm, cap_r + (now - last) * rpm / 60)
            cap_t = min(tpm, cap_t + (now - last) * tpm / 60)
            last = now
            if pending is not None:
                need = len(str(pending[0]["messages"])) // 4 + MAX_TOKENS
                if cap_r >= 1 and cap_t >= need:
                    cap_r -= 1
                    cap_t -= need
                    state["in_flight"] += 1
                    task = asyncio.create_task(call(*pending))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    pending = None
            if pending is None and not queue and not retry and state["in_flight"] == 0:
                break
            await asyncio.sleep(0.001)
            since = time.monotonic() - state["last_429"]
            if since < pause_after_429:
                await asyncio.sleep(pause_after_429 - since)
        elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "failures": state["failures"], "answered": state["done"]}


def rate_rows(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    runs: list[tuple[str, Any, int]] = [("talkline batch run", None, args.requests)]
    if args.cookbook:
        # Its 15 s pauses make it slow: a smaller run tells the story.
        runs.append((f"cookbook ({args.cookbook_requests} req)", "cookbook",
                     args.cookbook_requests))
    for name, kind, n in runs:
        path = write_input(tmp / f"rate-{n}.jsonl", n)
        with ScriptedServer(rpm=args.rpm, tpm=args.tpm, latency=args.latency) as srv:
            if kind is None:
                out = asyncio.run(talkline_run(srv.url, path, tmp / f"out-{len(rows)}.jsonl",
                                               args.concurrency))
            else:
                out = asyncio.run(cookbook_run(srv.url, path, args.rpm, args.tpm))
            stats = srv.stats
        rpm = out["answered"] / out["elapsed"] * 60
        rows.append({"name": name, "wall": out["elapsed"], "rpm": rpm,
                     "fraction": rpm / args.rpm, "429s": stats["429"],
                     "429_share": stats["429"] / max(stats["requests"], 1),
                     "failures": out["failures"]})
    return rows


def serve(*flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "talkline.testing", *flags],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def overhead(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    path = write_input(tmp / "overhead.jsonl", args.overhead_requests)
    proc, url = serve("--latency", "0.05")
    try:
        out = asyncio.run(talkline_run(url, path, tmp / "overhead.out.jsonl",
                                       args.concurrency))
    finally:
        proc.terminate()
        proc.wait()
    return {"rps": out["answered"] / out["elapsed"], "failures": out["failures"],
            "cpu_ms": out["cpu"] / max(out["answered"], 1) * 1000}


def memory(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    path = write_input(tmp / "memory.jsonl", args.memory_lines)
    proc, url = serve("--latency", "0")
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", url, str(path),
             str(tmp / "memory.out.jsonl"), str(args.concurrency)],
            capture_output=True, text=True, check=True)
    finally:
        proc.terminate()
        proc.wait()
    return json.loads(child.stdout.strip().splitlines()[-1])


def memory_child(url: str, path: str, output: str, concurrency: int) -> None:
    """Runs in its own process: RSS samples at each tenth of the way, and the peak."""

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    samples: list[float] = []
    start_rss = rss_mb()

    def on_progress(p: Any) -> None:
        if p.total and p.done >= (len(samples) + 1) * p.total / 10:
            samples.append(round(rss_mb(), 1))

    async def go() -> float:
        settings = Settings.resolve(api_key="sk-bench-fake", base_url=url)
        report = scan_input(path)
        async with batch_client(settings, concurrency=concurrency) as client:
            runner = BatchRunner(client, output, concurrency=concurrency,
                                 on_progress=on_progress, progress_interval=0.5)
            t = time.perf_counter()
            await runner.run(iter_requests(path, report=report), total=report.valid)
            return time.perf_counter() - t

    elapsed = asyncio.run(go())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"start_mb": round(start_rss, 1), "samples_mb": samples,
                      "peak_mb": round(peak, 1), "elapsed": round(elapsed, 1)}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--rpm", type=float, default=3000)
    ap.add_argument("--tpm", type=float, default=1_000_000)
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--overhead-requests", type=int, default=10_000)
    ap.add_argument("--memory-lines", type=int, default=100_000)
    ap.add_argument("--cookbook", action="store_true")
    ap.add_argument("--cookbook-requests", type=int, default=1000)
    ap.add_argument("--skip", default="", help="comma-separated: rate, overhead, memory")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        tmp = Path(name)
        if "rate" not in skip:
            print(f"1. {args.requests} requests, limit {args.rpm:g} RPM / {args.tpm:g} TPM, "
                  f"{args.latency * 1000:g} ms latency, concurrency {args.concurrency}")
            print(f"{'client':30} {'wall s':>8} {'req/min':>9} {'of limit':>9} {'429s':>6} "
                  f"{'429 %':>7} {'failed':>7}")
            for r in rate_rows(args, tmp):
                print(f"{r['name']:30} {r['wall']:8.1f} {r['rpm']:9.0f} {r['fraction']:9.1%} "
                      f"{r['429s']:6d} {r['429_share']:7.2%} {r['failures']:7d}", flush=True)
        if "overhead" not in skip:
            o = overhead(args, tmp)
            print(f"\n2. no limit, 50 ms latency, {args.overhead_requests} requests, "
                  f"server in another process: {o['rps']:.0f} requests/s, "
                  f"{o['cpu_ms']:.2f} ms client CPU per request, {o['failures']} failed",
                  flush=True)
        if "memory" not in skip:
            m = memory(args, tmp)
            print(f"\n3. {args.memory_lines:,} lines: RSS {m['start_mb']} MB at start; "
                  f"at each tenth {m['samples_mb']} MB; peak {m['peak_mb']} MB "
                  f"({m['elapsed']} s)")


if __name__ == "__main__":
    main()
