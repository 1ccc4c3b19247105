"""Many processes on one database file: nothing lost, never "database is locked".

Workers are separate interpreters (`python -c`), like `xargs -P 8 talkline ...` would start.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from talkline.store import ConversationStore

SRC = Path(__file__).resolve().parent.parent / "src"
WORKERS = 8
PER_WORKER = 50

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and modes")

APPENDER = textwrap.dedent(
    """
    import os, sys, time
    from talkline.store import ConversationStore
    db, shared, go, tag, count = sys.argv[1:6]
    with ConversationStore(db) as store:
        own = store.create_conversation(title=tag)
        print(own.id, flush=True)
        while not os.path.exists(go):
            time.sleep(0.001)
        for i in range(int(count)):
            store.append_message(own.id, "user", f"{tag} own {i}", prompt_tokens=1)
            role = "user" if i % 2 == 0 else "assistant"
            store.append_message(shared, role, f"{tag} shared {i}", prompt_tokens=1, cost=0.5)
    """
)

OPENER = textwrap.dedent(
    """
    import os, sys, time
    from talkline.store import ConversationStore
    db, go = sys.argv[1:3]
    while not os.path.exists(go):
        time.sleep(0.001)
    ConversationStore(db).close()
    """
)

KILLABLE = textwrap.dedent(
    """
    import sys
    from talkline.store import ConversationStore
    db, cid = sys.argv[1:3]
    filler = "lorem ipsum dolor sit amet " * 150  # several pages per transaction
    with ConversationStore(db) as store:
        i = 0
        while True:
            msg = store.append_message(cid, "user", f"message {i} {filler}")
            store.update_message(msg.id, prompt_tokens=i)
            print(msg.id, flush=True)  # printed only once committed
            i += 1
    """
)


def python(script: str, *args: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_eight_processes_append_at_once_and_lose_nothing(tmp_path: Path) -> None:
    db, go = tmp_path / "talkline.db", tmp_path / "go"
    with ConversationStore(db) as store:
        shared = store.create_conversation(title="shared")
    procs = [python(APPENDER, db, shared.id, go, f"w{n}", PER_WORKER) for n in range(WORKERS)]
    own_ids = [p.stdout.readline().strip() for p in procs if p.stdout]  # all stores are open
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err and "busy" not in err, err
        assert proc.returncode == 0, err

    with ConversationStore(db) as store:
        for n, cid in enumerate(own_ids):
            own = store.messages(cid)
            assert [m.content for m in own] == [f"w{n} own {i}" for i in range(PER_WORKER)]
            assert store.get_conversation(cid).prompt_tokens == PER_WORKER
        # Every append read the head inside its write transaction: one chain, no forks.
        path = store.messages(shared.id)
        assert len(path) == len(store.all_messages(shared.id)) == WORKERS * PER_WORKER
        assert [m.position for m in path] == list(range(WORKERS * PER_WORKER))
        for n in range(WORKERS):
            mine = [m.content for m in path if m.content.startswith(f"w{n} ")]  # type: ignore[union-attr]
            assert mine == [f"w{n} shared {i}" for i in range(PER_WORKER)]
        got = store.get_conversation(shared.id)
        assert got.turns == WORKERS * PER_WORKER // 2
        assert got.prompt_tokens == WORKERS * PER_WORKER
        assert got.cost == pytest.approx(0.5 * WORKERS * PER_WORKER)
        assert len(store.search("shared", limit=1000)) == WORKERS * PER_WORKER
    assert integrity(db) == "ok"


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    db, go = tmp_path / "fresh.db", tmp_path / "go"
    procs = [python(OPENER, db, go) for _ in range(WORKERS)]
    time.sleep(0.3)  # let the interpreters start, then release them together
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    conn.close()
    assert names == ["m001_initial", "m002_fts", "m003_writer", "m004_blobs",
                     "m005_reasoning_items", "m006_reasoning_text", "m007_gateway_keys"]
    assert integrity(db) == "ok"


def test_a_killed_writer_leaves_every_committed_message(tmp_path: Path) -> None:
    db = tmp_path / "talkline.db"
    with ConversationStore(db) as store:
        cid = store.create_conversation().id
    committed: list[int] = []
    for round_ in range(3):  # each round recovers the WAL the previous kill left behind
        proc = python(KILLABLE, db, cid)
        assert proc.stdout is not None
        target = len(committed) + 150 + 37 * round_
        while len(committed) < target:
            line = proc.stdout.readline()
            assert line, proc.communicate()[1]
            committed.append(int(line))
        time.sleep(0.003 * round_)  # land somewhere inside a later write
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        committed += [int(x) for x in rest.split()]
        assert proc.returncode == -signal.SIGKILL

    assert integrity(db) == "ok"
    with ConversationStore(db) as store:
        stored = {m.id: m for m in store.all_messages(cid)}
        assert set(committed) <= set(stored)
        # Each printed id's message is complete, update included.
        assert all(stored[i].prompt_tokens is not None for i in committed)
        path = store.messages(cid)
        assert [m.position for m in path] == list(range(len(path)))
        assert store.search("message")
