"""One-shot prompts are logged; -c/--cid continue; `talkline history ...` round trips."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from talkline.testing import Error, Reply

from .clihelp import SRC, run

KEY = "sk-test-fake-history"


def env(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


def conv_ids(server) -> list[str]:
    r = run("history", "list", "--json", env=env(server))
    assert r.code == 0, r.err
    return [c["id"] for c in json.loads(r.out)]


def test_one_shot_is_logged_with_usage_and_continue_carries_history(server, talkline_home):
    server.script(Reply("Paris.", usage={"prompt_tokens": 12, "completion_tokens": 2,
                                         "total_tokens": 14}))
    assert run("What is the capital of France?", env=env(server)).code == 0
    r = run("-c", "And of Italy?", env=env(server))
    assert r.code == 0, r.err
    sent = server.chat_requests[-1].body["messages"]
    assert sent == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]
    db = sqlite3.connect(talkline_home / "talkline.db")
    row = db.execute("SELECT prompt_tokens, completion_tokens, status, model FROM messages "
                     "WHERE role='assistant' ORDER BY id LIMIT 1").fetchone()
    db.close()
    assert row == (12, 2, "complete", "gpt-4o-mini")
    ids = conv_ids(server)
    assert len(ids) == 1


def test_cid_prefix_and_no_log(server):
    run("first conversation", env=env(server))
    run("second conversation", env=env(server))
    ids = conv_ids(server)
    assert len(ids) == 2
    target = ids[-1]  # the older one
    r = run("--cid", target[:10], "more", env=env(server))
    assert r.code == 0, r.err
    assert server.chat_requests[-1].body["messages"][0]["content"] == "first conversation"
    run("--no-log", "not stored", env=env(server))
    assert len(conv_ids(server)) == 2
    r = run("--cid", "zzzzzz", "x", env=env(server))
    assert r.code == 2 and "talkline history list" in r.err


def test_failed_reply_keeps_the_question(server, talkline_home):
    server.script(Error.invalid_key())
    r = run("keep me", env=env(server))
    assert r.code == 1
    db = sqlite3.connect(talkline_home / "talkline.db")
    rows = db.execute("SELECT role, status, content FROM messages ORDER BY id").fetchall()
    db.close()
    assert rows[0] == ("user", "complete", "keep me")
    assert rows[1][:2] == ("assistant", "error")


def test_history_show_search_title_rm(server):
    run("Tell me about the aardvark", env=env(server))
    cid = conv_ids(server)[0]
    r = run("history", "show", cid, env=env(server))
    assert "Tell me about the aardvark" in r.out and "Echo: Tell me about" in r.out
    r = run("history", "search", "aardvark", env=env(server))
    assert r.code == 0 and cid in r.out and "aardvark" in r.out
    r = run("history", "search", "zebra-unicorn", env=env(server))
    assert r.code == 0
    assert run("history", "title", cid[:8], "Aardvarks", env=env(server)).code == 0
    listed = json.loads(run("history", "list", "--json", env=env(server)).out)
    assert listed[0]["title"] == "Aardvarks"
    assert run("history", "rm", cid, env=env(server)).code == 0
    assert conv_ids(server) == []


def test_export_openai_then_import_gives_the_same_messages(server, tmp_path):
    run("-s", "Be kind.", "one", env=env(server))
    run("-c", "two", env=env(server))
    cid = conv_ids(server)[0]
    r = run("history", "export", cid, "--format", "openai", env=env(server))
    assert r.code == 0, r.err
    exported = json.loads(r.out)
    assert exported == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Echo: one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "Echo: two"},
    ]
    path = tmp_path / "conv.json"
    path.write_text(r.out)
    r = run("history", "import", str(path), env=env(server))
    assert r.code == 0, r.err
    new_id = r.out.strip()
    again = run("history", "export", new_id, "--format", "openai", env=env(server))
    assert json.loads(again.out) == exported
    md = run("history", "export", new_id, "--format", "md", env=env(server)).out
    assert "## User" in md and "Echo: two" in md


def test_import_refuses_bad_files_clearly(server, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "assistance", "content": "hi"}]')
    r = run("history", "import", str(bad), env=env(server))
    assert r.code == 2 and "message 1" in r.err and "assistance" in r.err
    bad.write_text("{not json")
    r = run("history", "import", str(bad), env=env(server))
    assert r.code == 2 and "not valid JSON" in r.err


def test_import_refuses_a_flood_before_reading_it_all(server, tmp_path):
    from talkline.store.imports import MAX_IMPORT_BYTES

    flood = tmp_path / "flood.json"
    with flood.open("wb") as f:  # sparse: no disk is spent
        f.truncate(MAX_IMPORT_BYTES + 1)
    r = run("history", "import", str(flood), env=env(server))
    assert r.code == 2 and "Traceback" not in r.err
    assert f"{flood} is over 128 MiB, the most one import reads; nothing was imported." \
        in r.err
    assert "remove them from it and import it again" in r.err
    assert conv_ids(server) == []


def test_eight_processes_at_once_lose_nothing(server, talkline_home):
    cmd = [sys.executable, "-m", "talkline"]
    base = {"PYTHONPATH": SRC, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url,
            "TALKLINE_HOME": str(talkline_home), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([*cmd, f"parallel prompt {i}"], env=base, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(16)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    db = sqlite3.connect(talkline_home / "talkline.db")
    users = {r[0] for r in db.execute("SELECT content FROM messages WHERE role='user'")}
    replies = db.execute("SELECT count(*) FROM messages WHERE role='assistant' "
                         "AND status='complete'").fetchone()[0]
    db.close()
    assert users == {f"parallel prompt {i}" for i in range(16)}
    assert replies == 16


def test_export_json_then_import_keeps_usage_and_a_newer_export_is_refused(server, tmp_path):
    server.script(Reply("Paris.", usage={"prompt_tokens": 12, "completion_tokens": 2,
                                         "total_tokens": 14}))
    assert run("-s", "Be kind.", "Capital of France?", env=env(server)).code == 0
    cid = conv_ids(server)[0]
    path = tmp_path / "conv.json"
    r = run("history", "export", cid, "--format", "json", "-o", str(path), env=env(server))
    assert r.code == 0 and f"Wrote {path}" in r.err
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("talkline.conversation", 4)
    r = run("history", "import", str(path), env=env(server))
    assert r.code == 0, r.err
    again = json.loads(run("history", "export", r.out.strip(), "--format", "json",
                           env=env(server)).out)
    assert again["conversation"]["system"] == "Be kind."
    assert [(m["role"], m["content"], m["prompt_tokens"]) for m in again["messages"]] == [
        ("user", "Capital of France?", None), ("assistant", "Paris.", 12)]

    data["version"] = 9
    path.write_text(json.dumps(data))
    r = run("history", "import", str(path), env=env(server))
    assert r.code == 2 and "Traceback" not in r.err
    assert "newer talkline (export version 9; this one reads up to 4): upgrade talkline" in r.err


def test_a_title_is_checked_where_it_is_typed(server, talkline_home):
    from talkline.store import MAX_TITLE

    server.script(Reply("Hi."))
    assert run("hello", env=env(server)).code == 0
    [cid] = conv_ids(server)
    r = run("history", "title", cid, "bad\x1b[31mred", env=env(server))
    assert r.code == 2 and "control character U+001B: give it as plain text" in r.err
    r = run("history", "title", cid, "x" * (MAX_TITLE + 1), env=env(server))
    assert r.code == 2 and f"the most is {MAX_TITLE}. Give a shorter one." in r.err
    # Bytes that are not UTF-8 reach Python as lone surrogates: refused, no traceback.
    proc = subprocess.run([sys.executable, "-m", "talkline", "history", "title", cid,
                           b"caf\xe9".decode("utf-8", "surrogateescape")],
                          env={"PYTHONPATH": SRC, "TALKLINE_HOME": str(talkline_home),
                               "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not UTF-8" in proc.stderr
    assert run("history", "title", cid, "Greetings", env=env(server)).code == 0
    titles = [c["title"] for c in json.loads(run("history", "list", "--json",
                                                  env=env(server)).out)]
    assert titles == ["Greetings"]


def test_the_store_keeps_any_title_it_is_given_storable():
    from talkline.store import MAX_TITLE, ConversationStore

    with ConversationStore() as store:
        conv = store.create_conversation(model="gpt-4o")
        got = store.set_title(conv.id, "bad\udcff\x1b[31m red\n\tline")
        assert got.title == "bad\ufffd [31m red line"
        long = store.set_title(conv.id, "y" * 10_000)
        assert long.title is not None and len(long.title) == MAX_TITLE
        assert store.set_title(conv.id, "\x00\x07 ").title is None
