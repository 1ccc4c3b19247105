"""Cold start: `talkline --help`, and a one-shot prompt against the local scripted server.

Run: python bench/bench_startup.py [--runs 15]
Prints medians of the wall time and of the CPU time (user + system) of the whole process;
the scripted server's own time (a warm in-process round trip) is subtracted from the
one-shot wall figure. `python -c "import openai"` and `llm --help` are measured too when
installed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CPU: dict[str, float] = {}  # median CPU seconds (user + system) of the process, by command


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float | None:
    """Median wall time of the whole process; its median CPU time goes to `CPU`, which a
    machine busy with other work disturbs far less than the wall clock."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            return None
    CPU[" ".join(cmd)] = statistics.median(cpu)
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
    rows: list[tuple[str, float | None, list[str]]] = []
    py = [sys.executable, "-c", "pass"]
    rows.append(("python -c pass", timed(py, env, args.runs), py))
    rows.append(("talkline --help", timed([*talkline, "--help"], env, args.runs),
                 [*talkline, "--help"]))

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
    rows.append(("talkline 'hi' (one-shot, --no-stream) - server", (one or 0) - server_time,
                 [*talkline, "--no-stream", "hi"]))
    rows.append(("talkline 'hi' (one-shot, streamed) - server", (one_stream or 0) - server_time,
                 [*talkline, "hi"]))
    openai = [sys.executable, "-c", "import openai"]
    rows.append(("python -c 'import openai'", timed(openai, env, args.runs), openai))
    llm = shutil.which("llm")
    rows.append(("llm --help", timed([llm, "--help"], env, args.runs) if llm else None,
                 [llm or "", "--help"]))
    print(f"median of {args.runs} runs; scripted server round trip {server_time * 1000:.1f} ms")
    print(f"{'':50} {'wall':>11} {'cpu':>11}")
    for name, value, cmd in rows:
        shown = f"{value * 1000:8.1f} ms" if value is not None else "   (not installed)"
        cpu = CPU.get(" ".join(cmd))
        print(f"{name:50} {shown} " + (f"{cpu * 1000:8.1f} ms" if cpu is not None else ""))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
