"""Lost data (issue 13): a full disk, SIGKILL mid-stream, an output that is the input, and a
budget of 0. Real parts: the talkline command as a child process, the scripted server on
127.0.0.1, real SQLite files (a full one made full by SQLite's own page limit or by a
small tmpfs)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkline.client import Client
from talkline.errors import BudgetExceededError
from talkline.planning.costs import Budget, check_budget
from talkline.planning.preflight import Preflight
from talkline.session.conversation import ChatSession
from talkline.settings import Settings
from talkline.settings.defaults import LOCAL_MODEL
from talkline.store import ConversationStore, StoreError
from talkline.store._writers import process_start, writer_alive
from talkline.testing import Reply
from talkline.types import ChatParams, Message

from .clihelp import SRC, run

KEY = "sk-test-CANARY-lost-data-7f3a"


def env_for(server, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, **extra}


def rows(db: Path) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT role, status, content, error FROM messages ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------- a full disk


def test_full_database_still_gives_the_paid_answer_and_says_it_was_not_stored(server,
                                                                               tmp_path):
    answer = "A long paid answer. " * 1500  # 30 kB: needs pages the full file cannot get
    server.script(Reply(answer, chunk_size=2000))
    settings = Settings.resolve(api_key=KEY, base_url=server.url)
    store = ConversationStore(tmp_path / "full.db")
    record = store.create_conversation(model="gpt-4o-mini")
    conn = store._db.conn  # SQLite's own limit: the file may not grow past its size now
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    session = ChatSession(Client(settings=settings), store, record=record)
    turn = session.send("question")
    response = turn.until_done()
    assert response.content == answer  # the answer is not thrown away
    assert isinstance(turn.store_error, StoreError)
    notice = turn.not_stored_notice()
    assert notice is not None
    assert "could not be stored" in notice and "is full" in notice
    assert "Free some space" in notice and "copy it now" in notice
    store.close()
    kept = rows(tmp_path / "full.db")
    assert kept[0][:3] == ("user", "complete", "question")  # what was typed is kept


def _mount_tiny_tmpfs(where: Path, size_kib: int) -> bool:
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                           str(where)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def full_disk_home(tmp_path: Path) -> Iterator[Path]:
    """A TALKLINE_HOME on a 1 MiB tmpfs holding a new database, then filled but for
    160 KiB: room for a question, not for a long answer. Needs root (else skipped)."""
    disk = tmp_path / "disk"
    if not _mount_tiny_tmpfs(disk, 1024):
        pytest.skip("needs root to mount a small tmpfs (the in-process test covers it)")
    try:
        home = disk / "home"
        home.mkdir()
        ConversationStore(home / "talkline.db").close()  # the schema, before the disk fills
        filler = disk / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        os.truncate(filler, max(0, filler.stat().st_size - 160 * 1024))
        yield home
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


LONG_ANSWER = "Paid for, and printed. " * 20000  # 460 kB: more than the disk has left


def test_full_disk_prints_the_answer_and_says_it_could_not_be_stored(server, full_disk_home):
    home = full_disk_home
    server.script(Reply(LONG_ANSWER, chunk_size=4000))
    started = time.monotonic()
    r = run("a question", env=env_for(server, TALKLINE_HOME=str(home)))
    assert time.monotonic() - started < 30
    assert "Traceback" not in r.err
    assert r.out.rstrip() == LONG_ANSWER.rstrip(), r.err  # printed in full
    assert "Warning: the answer could not be stored" in r.err
    assert "is full." in r.err and r.err.count("Free some space") == 1
    assert "copy it now" in r.err
    assert r.code == 1
    assert KEY not in r.out + r.err
    kept = rows(home / "talkline.db")
    assert kept[0][:3] == ("user", "complete", "a question")


def test_full_disk_in_the_repl_shows_the_answer_says_so_and_goes_on(server, full_disk_home):
    import pexpect

    server.script(Reply("Start of the paid answer. " + LONG_ANSWER, chunk_size=4000))
    env = dict(os.environ)
    env.update(env_for(server, TALKLINE_HOME=str(full_disk_home), PYTHONPATH=SRC,
                       PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm-256color", NO_COLOR="1"))
    env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "chat"], env=env,
                          encoding="utf-8", timeout=30, dimensions=(40, 120))
    try:
        child.expect_exact("\x1b[?2004h")  # the prompt is up
        child.sendline("a question")
        child.expect_exact("Start of the paid answer.")
        child.expect_exact("Warning: the answer could not be stored")
        child.expect_exact("Free some space")
        child.expect_exact("\x1b[?2004h")  # and the REPL goes on
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "Traceback" not in (child.before or "")


# ---------------------------------------------------------------- SIGKILL mid-stream


def _start_streaming_child(server, home: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_for(server, TALKLINE_HOME=str(home)))
    return subprocess.Popen(
        [sys.executable, "-m", "talkline", "--stream", "tell me a story"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )


def _read_available(proc: subprocess.Popen[bytes], into: bytearray) -> None:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        try:
            data = os.read(proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not data:
            return
        into += data


def test_sigkill_mid_stream_keeps_the_shown_text_marked_interrupted(server, talkline_home):
    story = "".join(f"word{i} " for i in range(200))
    server.script(Reply(story, chunk_size=8, chunk_delay=0.1))  # ~12 s in all
    db = talkline_home / "talkline.db"
    proc = _start_streaming_child(server, talkline_home)
    shown = bytearray()
    try:
        deadline = time.monotonic() + 30
        while len(shown) < 40 and time.monotonic() < deadline:  # streaming has begun
            _read_available(proc, shown)
            time.sleep(0.05)
        assert shown, "the child never streamed"
        time.sleep(1.5)
        # While it streams, the reply is checkpointed, and another talkline command
        # leaves it alone: its writer is alive.
        r = run("history", "list", env=env_for(server))
        assert r.code == 0, r.err
        during = rows(db)
        assert during[-1][0:2] == ("assistant", "pending")
        assert during[-1][2], "nothing was checkpointed after 1.5 s of streaming"
        _read_available(proc, shown)
        shown_before_kill = shown.decode()
        time.sleep(1.2)  # at least one more checkpoint covers everything shown so far
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _read_available(proc, shown)
        err = proc.stderr.read().decode() if proc.stderr is not None else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert "Traceback" not in err and KEY not in shown.decode() + err
    assert rows(db)[-1][1] == "pending"  # nobody has looked yet
    r = run("history", "list", env=env_for(server))
    assert r.code == 0 and "Traceback" not in r.err
    role, status, content, error = rows(db)[-1]
    assert (role, status) == ("assistant", "interrupted")
    assert content.startswith(shown_before_kill)  # the text shown so far is kept
    assert story.startswith(content) and len(content) < len(story)
    assert error is not None and "stopped before it ended" in error
    assert KEY not in content + (error or "")


def test_a_reply_whose_writer_is_alive_is_left_alone_and_a_dead_ones_marked(tmp_path):
    store = ConversationStore(tmp_path / "w.db")
    conv = store.create_conversation()
    store.append_message(conv.id, "user", "q")
    mine = store.append_message(conv.id, "assistant", "half an ans", status="pending")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its id names no process now (or a new one, started later)
    gone = store.append_message(conv.id, "assistant", "what was shown", status="pending",
                                parent_id=mine.parent_id)
    reused = store.append_message(conv.id, "assistant", "pid reused", status="pending",
                                  parent_id=mine.parent_id)
    conn = store._db.conn
    conn.execute("UPDATE messages SET writer_pid = ? WHERE id = ?", (dead.pid, gone.id))
    started = process_start(os.getpid())
    if started is not None:  # this process's id, but another start time: not the writer
        conn.execute("UPDATE messages SET writer_started = ? WHERE id = ?",
                     (started - 100, reused.id))
    assert store.mark_abandoned() == (2 if started is not None else 1)
    by_id = {m.id: m for m in store.all_messages(conv.id)}
    assert by_id[mine.id].status == "pending"  # this process is still writing it
    assert by_id[gone.id].status == "interrupted"
    assert by_id[gone.id].content == "what was shown"
    assert str(dead.pid) in (by_id[gone.id].error or "")
    if started is not None:
        assert by_id[reused.id].status == "interrupted"
    store.close()


def test_writer_alive_tells_a_zombie_and_a_reused_id_from_the_writer():
    me = os.getpid()
    assert writer_alive(me, process_start(me))
    assert not writer_alive(0, None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_start(child.pid) is not None and time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break  # exited, not reaped: a zombie
        time.sleep(0.02)
    if process_start(child.pid) is not None:
        assert not writer_alive(child.pid, process_start(child.pid))
    child.wait()
    assert not writer_alive(child.pid, None)


# ---------------------------------------------------------------- -o is the input


@pytest.mark.parametrize("link", ["hard", "symlink"])
def test_batch_output_that_is_the_input_is_refused(server, tmp_path, link):
    source = tmp_path / "in.jsonl"
    original = json.dumps({"custom_id": "a", "prompt": "hello"}) + "\n"
    source.write_text(original)
    out = tmp_path / "out.jsonl"
    if link == "hard":
        os.link(source, out)
    else:
        out.symlink_to(source)
    r = run("batch", "run", str(source), "-o", str(out), "--base-url", server.url,
            "--key", KEY, "-m", "gpt-4o-mini")
    assert r.code == 2, r.err
    assert "Traceback" not in r.err
    assert "is the input file" in r.err and "Choose another -o" in r.err
    assert source.read_text() == original  # nothing appended
    assert server.chat_requests == []


def test_batch_fetch_output_that_is_the_input_is_refused(server, tmp_path):
    source = tmp_path / "in.jsonl"
    original = json.dumps({"custom_id": "a", "prompt": "hello"}) + "\n"
    source.write_text(original)
    out = tmp_path / "hard.jsonl"
    os.link(source, out)
    r = run("batch", "fetch", "batch_x", "-o", str(out), "--input", str(source),
            "--base-url", server.url, "--key", KEY)
    assert r.code == 2 and "Traceback" not in r.err
    assert "is the input file" in r.err
    assert source.read_text() == original


# ---------------------------------------------------------------- a budget of 0


def test_budget_flag_0_refuses_a_priced_model(server):
    r = run("--budget", "0", "-m", "gpt-4o-mini", "hi", env=env_for(server))
    assert r.code == 1 and "Traceback" not in r.err
    assert "allows nothing to be spent" in r.err and "Nothing was sent" in r.err
    assert "Raise it with --budget" in r.err
    assert server.chat_requests == []


def test_daily_budget_0_refuses_a_model_with_an_unknown_price(server, talkline_home):
    (talkline_home / "config.toml").write_text("daily_budget = 0\n")
    r = run("-m", "my-own-model", "hi", env=env_for(server))
    assert r.code == 1 and "Traceback" not in r.err
    assert "price of this model is unknown" in r.err
    assert "daily budget ($0.00) allows nothing to be spent" in r.err
    assert "Raise `daily_budget` above 0" in r.err and "[catalog." in r.err
    assert server.chat_requests == []


def test_budget_0_lets_the_free_embedded_model_through():
    settings = Settings.resolve(api_key=KEY, budget=0.0)
    prepared = Preflight(settings).prepare([Message("user", "hi")], LOCAL_MODEL,
                                           ChatParams())
    assert prepared.messages[-1].text == "hi"
    with pytest.raises(BudgetExceededError, match="allows nothing"):
        Preflight(settings).prepare([Message("user", "hi")], "gpt-4o-mini", ChatParams())


def test_check_budget_zero_and_unknown_price():
    with pytest.raises(BudgetExceededError, match="unknown"):
        check_budget(Budget(monthly=0), None, 0.0, 0.0)
    check_budget(Budget(monthly=5), None, 0.0, 0.0)  # a positive budget: unknown passes
    check_budget(Budget(), None, 0.0, 0.0)
    check_budget(Budget(per_command=0), 0.0, 0.0, 0.0)  # a free request costs nothing
