"""Cold start: `talkline --help`, and a one-shot prompt against the local scripted server.

Run: python bench/bench_startup.py [--runs 15]
Prints medians; the scripted server's own time (a warm in-process round trip) is subtracted
from the one-shot figure. `python -c "import openai"` and `llm --help` are measured too when
installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float | None:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            return None
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()

    from talkline.testing import ScriptedServer

    home = tempfile.mkdtemp(prefix="talkline-bench-")
    env = dict(os.environ, TALKLINE_HOME=home)
    script = shutil.which("talkline")
    talkline = [script] if script else [sys.executable, "-m", "talkline"]
    rows: list[tuple[str, float | None]] = []
    rows.append(("python -c pass", timed([sys.executable, "-c", "pass"], env, args.runs)))
    rows.append(("talkline --help", timed([*talkline, "--help"], env, args.runs)))

    with ScriptedServer() as srv:
        import httpx

        with httpx.Client() as c:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            server_times = []
            for _ in range(20):
                t = time.perf_counter()
                c.post(f"{srv.url}/chat/completions", json=body)
                server_times.append(time.perf_counter() - t)
        server_time = statistics.median(server_times)
        one_env = dict(env, OPENAI_API_KEY="sk-bench-fake", OPENAI_BASE_URL=srv.url)
        one = timed([*talkline, "--no-stream", "hi"], one_env, args.runs)
        one_stream = timed([*talkline, "hi"], one_env, args.runs)
    rows.append(("talkline 'hi' (one-shot, --no-stream) - server", (one or 0) - server_time))
    rows.append(("talkline 'hi' (one-shot, streamed) - server", (one_stream or 0) - server_time))
    rows.append(("python -c 'import openai'",
                 timed([sys.executable, "-c", "import openai"], env, args.runs)))
    llm = shutil.which("llm")
    rows.append(("llm --help", timed([llm, "--help"], env, args.runs) if llm else None))
    print(f"median of {args.runs} runs; scripted server round trip {server_time * 1000:.1f} ms")
    for name, value in rows:
        shown = f"{value * 1000:8.1f} ms" if value is not None else "   (not installed)"
        print(f"{name:50} {shown}")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
