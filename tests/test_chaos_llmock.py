"""An independent chaos server (llmock) grades talkline: random 429s, 5xx, truncated and
dropped streams against a few dozen one-shot prompts; its verdict must have no error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .clihelp import run

PROMPTS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_llmock_verdict_passes(tmp_path):
    exe = shutil.which("llmock") or os.path.join(os.path.dirname(sys.executable), "llmock")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "llmock.log", "w")
    proc = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--error-rate-429", "0.1", "--error-rate-500", "0.08", "--error-rate-503", "0.04",
         "--stream-fault", "truncate=0.08", "--stream-fault", "disconnect=0.08"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_llmock/verdict", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, (tmp_path / "llmock.log").read_text()
                assert time.monotonic() < deadline, "llmock did not start"
                time.sleep(0.2)
        env = {"OPENAI_API_KEY": "sk-test-fake-chaos", "OPENAI_BASE_URL": f"{url}/v1"}

        def one(i: int):
            # About 38% of attempts fail; with 9 retries a prompt fails for good about
            # once in 16,000 runs, so the verdict, not luck, decides this test. (llmock
            # calls more than 10 attempts of one call a retry storm.)
            args = ["--retries", "9", f"Question {i}: what is {i} + {i}?"]
            if i % 3 == 0:
                args.insert(0, "--no-stream")
            return run(*args, env=env)

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(one, range(PROMPTS)))
        for r in results:
            assert r.code == 0, r.err
            assert r.out.strip(), r.err
        verdict = httpx.get(f"{url}/_llmock/verdict", timeout=10).json()
        report = subprocess.run([exe, "report", "--url", url], capture_output=True, text=True)
        assert verdict["passed"], (report.stdout, verdict)
        assert report.returncode == 0, report.stdout + report.stderr
        assert verdict.get("faults_injected", 1) != 0 or "fault" in report.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
