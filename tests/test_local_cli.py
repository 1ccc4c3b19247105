"""Offline out of the box: no key, no network, a fresh TALKLINE_HOME, and the README's
main command still answers, with the embedded model."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from .clihelp import SRC
from .localmodel import require_model

require_model()
pytestmark = pytest.mark.local
SITE = str(Path(__file__).parent / "offline_site")


# A network namespace of its own, with only loopback up (the embedded model's server
# listens on 127.0.0.1): `unshare -n` and `ip link set lo up`.
_LO_UP = 'ip link set lo up && exec "$@"'


def _unshare_works() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = ["unshare", "-n", "sh", "-c", _LO_UP, "sh", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


UNSHARE = _unshare_works()


def offline_cmd(*args: str) -> list[str]:
    cmd = [sys.executable, "-m", "talkline", *args]
    return ["unshare", "-n", "sh", "-c", _LO_UP, "sh", *cmd] if UNSHARE else cmd


def offline_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "TALKLINE_"))}
    env.update({"PYTHONPATH": os.pathsep.join([SITE, SRC]), "TALKLINE_HOME": str(home),
                "TALKLINE_LOCAL_THREADS": "1", "NO_COLOR": "1"})
    env.update(extra)
    return env


def test_main_command_answers_offline_with_no_key(talkline_home):
    r = subprocess.run(offline_cmd("What is the capital of France?"),
                       env=offline_env(talkline_home), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
    assert "No API key configured: answering with the embedded SmolLM2-135M model" in r.stderr
    db = sqlite3.connect(talkline_home / "talkline.db")
    row = db.execute("SELECT status, prompt_tokens, completion_tokens, cost FROM messages "
                     "WHERE role='assistant'").fetchone()
    db.close()
    assert row[0] == "complete" and row[1] > 0 and row[2] > 0
    assert row[3] in (0, 0.0, None)


def test_json_output_from_the_local_model(talkline_home):
    r = subprocess.run(offline_cmd("-m", "local", "--json", "--max-tokens", "5", "Say hi"),
                       env=offline_env(talkline_home), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert data["choices"][0]["finish_reason"] in ("stop", "length")
    assert data["usage"]["completion_tokens"] <= 5


def test_chat_two_turns_in_a_pty_with_the_local_model(talkline_home):
    child = pexpect.spawn(offline_cmd()[0], offline_cmd("chat", "-t", "0")[1:],
                          env={**offline_env(talkline_home), "PROMPT_TOOLKIT_NO_CPR": "1",
                               "TERM": "xterm-256color"},
                          encoding="utf-8", timeout=60, dimensions=(40, 120))
    child.expect_exact("\x1b[?2004h")
    child.sendline("What is the capital of France?")
    child.expect("Paris")
    child.expect_exact("\x1b[?2004h")
    child.sendline("What did I just ask you?")
    child.expect_exact("\x1b[?2004h")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    db = sqlite3.connect(talkline_home / "talkline.db")
    rows = db.execute("SELECT role, status, prompt_tokens FROM messages ORDER BY id").fetchall()
    db.close()
    assert [r[0] for r in rows] == ["user", "assistant", "user", "assistant"]
    assert all(r[1] == "complete" for r in rows)
    # The second request carried the first exchange: more prompt tokens than the first.
    assert rows[3][2] > rows[1][2]


def test_missing_runtime_says_what_to_install(talkline_home):
    r = subprocess.run(offline_cmd("-m", "local", "hi"),
                       env=offline_env(talkline_home, TALKLINE_TEST_BLOCK_XLLAMACPP="1"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "pip install 'talkline[local]'" in r.stderr
    assert "Traceback" not in r.stderr


def test_models_lists_local(talkline_home):
    r = subprocess.run(offline_cmd("models"), env=offline_env(talkline_home),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "local" in r.stdout.split()
