"""`talkline serve` run for real in a subprocess on 127.0.0.1 with `--port 0`: the URL
read from its stderr, stopped with SIGTERM (its exit code and stderr kept)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .clihelp import SRC

UPSTREAM_KEY = "sk-test-upstream-key-0001"
CLIENT_KEY = "sk-test-client-key-0002"


@dataclass
class Gateway:
    url: str  # ends in /v1
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    code: int | None = None

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def gateway_env(upstream_url: str | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if upstream_url is not None:
        env.update(OPENAI_BASE_URL=upstream_url, OPENAI_API_KEY=UPSTREAM_KEY)
    env.update(extra)
    return env


@contextmanager
def gateway(upstream_url: str | None, *args: str, env: dict[str, str] | None = None,
            timeout: float = 20) -> Iterator[Gateway]:
    proc = subprocess.Popen([sys.executable, "-m", "talkline", "serve", "--port", "0", *args],
                            env={**gateway_env(upstream_url), **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+)/v1", first)
    if found is None:
        proc.kill()
        rest = proc.stderr.read()
        proc.wait(5)
        proc.stderr.close()
        raise AssertionError(f"talkline serve did not print its URL: {first + rest!r}")
    gw = Gateway(found.group(1) + "/v1", proc, [first])

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            gw.lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield gw
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            gw.code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            gw.code = proc.wait(5)
        reader.join(5)
        proc.stderr.close()
