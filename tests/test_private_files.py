"""Every file talkline writes that holds prompts or answers is 0600, whatever the umask.

The real `talkline` (and the REPL in a real pseudo-terminal) runs under umask 022 and 000
against the scripted server on 127.0.0.1; the batch results file's lock is looked at while
a run holds it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from talkline.testing import Fault

from .clihelp import SRC
from .test_hostile_secrets import KEY, _umask, tl

# ---- file modes: every file that holds prompts or answers is 0600, whatever the umask ----

UMASKS = [pytest.param(0o022, id="umask-022"), pytest.param(0o000, id="umask-000")]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", UMASKS)
def test_batch_results_and_their_lock_are_0600(server, talkline_home, tmp_path, umask):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "a secret prompt"}) + "\n")
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    server.script(Fault.slow_first_byte(3.0))  # the lock is held (and looked at) meanwhile
    full = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    full.update(env, PYTHONPATH=SRC, TALKLINE_HOME=str(talkline_home))
    lock = tmp_path / "in.jsonl.results.jsonl.lock"
    with subprocess.Popen([sys.executable, "-m", "talkline", "batch", "run", str(src)],
                          env=full, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: _umask(umask)) as proc:
        deadline = time.monotonic() + 20
        while not lock.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        lock_mode = _mode(lock)
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, err
    assert lock_mode == 0o600
    results = tmp_path / "in.jsonl.results.jsonl"
    assert "\"custom_id\":\"a\"" in results.read_text()  # an answer: private
    assert _mode(results) == 0o600
    # A results file left 0644 by an older talkline is made private when resumed.
    results.chmod(0o644)
    r, _ = tl("batch", "run", str(src), home=talkline_home, env=env, umask=umask)
    assert r.code == 0, r.err
    assert _mode(results) == 0o600


@pytest.mark.parametrize("umask", UMASKS)
def test_history_export_to_a_file_is_0600(server, talkline_home, tmp_path, umask):
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    r, _ = tl("a private question", home=talkline_home, env=env, umask=umask)
    assert r.code == 0, r.err
    cid = tl("history", "list", "--json", home=talkline_home, env=env)[0].out
    cid = json.loads(cid)[0]["id"]
    for fmt, name in (("json", "out.json"), ("md", "out.md")):
        out = tmp_path / name
        r, _ = tl("history", "export", cid, "--format", fmt, "-o", str(out),
                  home=talkline_home, env=env, umask=umask)
        assert r.code == 0, r.err
        assert "a private question" in out.read_text()
        assert _mode(out) == 0o600
    assert all(_mode(p) == 0o600 for p in talkline_home.iterdir() if p.is_file())


@pytest.mark.parametrize("umask", UMASKS)
def test_repl_export_files_are_0600(server, talkline_home, tmp_path, umask):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.url, PYTHONPATH=SRC,
               TALKLINE_HOME=str(talkline_home), PROMPT_TOOLKIT_NO_CPR="1",
               TERM="xterm-256color", NO_COLOR="1")
    env.pop("COLUMNS", None)
    out = tmp_path / "talk.md"
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "chat"], env=env,
                          encoding="utf-8", timeout=20, dimensions=(40, 200),
                          preexec_fn=lambda: _umask(umask))
    try:
        child.expect_exact("\x1b[?2004h")
        child.sendline("a private remark")
        child.expect_exact("Echo: a private remark")
        child.expect_exact("\x1b[?2004h")
        child.sendline(f"/export {out}")
        child.expect_exact("Wrote")
        child.expect_exact("\x1b[?2004h")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "a private remark" in out.read_text()
    assert _mode(out) == 0o600
