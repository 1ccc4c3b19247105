"""`talkline serve keys`: a key is shown once, stored hashed, listed without its value."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

from talkline.serve.keys import hash_token
from talkline.store import ConversationStore

from .clihelp import run

TOKEN = re.compile(r"tlg-[A-Za-z0-9_-]{43}")


def add(*args: str) -> str:
    r = run("serve", "keys", "add", *args)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    return r.out.strip()


def test_add_shows_the_key_once_on_stdout_and_stores_only_its_hash(talkline_home: Path):
    r = run("serve", "keys", "add", "alice", "--daily", "1", "--monthly", "20")
    assert r.code == 0, r.err
    token = r.out.strip()
    assert TOKEN.fullmatch(token) and r.out == token + "\n"  # the key alone, on stdout
    assert token not in r.err
    assert "shown only this once and cannot be shown again" in r.err
    assert "daily budget $1.00, monthly budget $20.00" in r.err
    db = talkline_home / "talkline.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in talkline_home.glob("talkline.db*"))
    assert token.encode() not in raw and token.split("-", 1)[1].encode() not in raw
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, token_sha256, daily_budget, monthly_budget "
                            "FROM gateway_keys").fetchall()
    conn.close()
    assert rows == [("alice", hash_token(token), 1.0, 20.0)]


def test_two_keys_differ_and_list_shows_names_budgets_and_spending_never_a_key(
        talkline_home: Path):
    alice, bob = add("alice", "--daily", "0.5"), add("bob")
    assert alice != bob
    with ConversationStore(talkline_home / "talkline.db") as store:
        conv = store.create_conversation(model="gpt-4o-mini", client="alice")
        store.append_message(conv.id, "user", "hi")
        store.append_message(conv.id, "assistant", "hello", cost=0.25)
    r = run("serve", "keys", "list")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "DAILY", "MONTHLY", "TODAY", "THIS", "MONTH"]
    assert lines[1].split()[0] == "alice" and lines[1].split()[2:] == [
        "$0.5000", "-", "$0.2500", "$0.2500"]
    assert lines[2].split()[0] == "bob" and lines[2].split()[2:] == ["-", "-", "$0.00", "$0.00"]
    assert alice not in r.out + r.err and bob not in r.out + r.err
    assert "tlg-" not in r.out + r.err


def test_list_with_no_keys_says_how_to_make_one():
    r = run("serve", "keys", "list")
    assert r.code == 0 and r.out == ""
    assert "talkline serve keys add NAME" in r.err


def test_duplicate_names_are_refused_and_the_first_key_is_kept(talkline_home: Path):
    first = add("alice")
    r = run("serve", "keys", "add", "alice")
    assert r.code != 0 and r.out == "" and "Traceback" not in r.err
    assert "A gateway key named 'alice' already exists" in r.err
    assert "talkline serve keys rm alice" in r.err
    with ConversationStore(talkline_home / "talkline.db") as store:
        assert [k.name for k in store.gateway_keys()] == ["alice"]
        assert store.gateway_key_by_hash(hash_token(first)) is not None


def test_bad_names_and_budgets_get_a_message_that_says_what_to_give():
    for name in ("bad name", ".dot", "", "x" * 65, "ünïcode", "a/b"):
        r = run("serve", "keys", "add", name)
        assert r.code == 2 and r.out == "" and "Traceback" not in r.err, name
        assert "cannot name a gateway key" in r.err
        assert "letters, digits" in r.err and "talkline serve keys add alice" in r.err
    r = run("serve", "keys", "add", "owner")
    assert r.code == 2 and "reserved for the gateway's owner" in r.err
    assert "Choose another name" in r.err
    for flag, value in (("--daily", "-1"), ("--monthly", "nan"), ("--daily", "inf")):
        r = run("serve", "keys", "add", "carol", flag, value)
        assert r.code == 2 and r.out == "" and "Traceback" not in r.err
        assert f"{flag} {value} is not a budget" in r.err
        assert f"for example {flag} 5" in r.err
    r = run("serve", "keys", "add", "carol", "--daily", "five")
    assert r.code == 2 and "--daily 'five' is not an amount in USD" in r.err
    assert "--daily none for no limit" in r.err
    assert "carol" not in run("serve", "keys", "list").out


def test_budget_changes_one_limit_and_keeps_the_other(talkline_home: Path):
    add("alice", "--daily", "1", "--monthly", "10")
    r = run("serve", "keys", "budget", "alice", "--daily", "2")
    assert r.code == 0, r.err
    assert "daily budget of $2.00 and a monthly budget of $10.00" in r.err
    r = run("serve", "keys", "budget", "alice", "--monthly", "none")
    assert r.code == 0 and "monthly budget of -" in r.err
    with ConversationStore(talkline_home / "talkline.db") as store:
        key = store.gateway_keys()[0]
    assert (key.daily_budget, key.monthly_budget) == (2.0, None)
    r = run("serve", "keys", "budget", "alice")
    assert r.code == 2 and "Give --daily USD, --monthly USD, or both" in r.err
    r = run("serve", "keys", "budget", "nobody", "--daily", "1")
    assert r.code == 1 and "No gateway key named 'nobody'" in r.err
    assert "talkline serve keys list" in r.err


def test_rm_removes_the_key_and_keeps_its_conversations(talkline_home: Path):
    token = add("alice")
    with ConversationStore(talkline_home / "talkline.db") as store:
        store.create_conversation(model="gpt-4o-mini", client="alice")
    r = run("serve", "keys", "rm", "alice")
    assert r.code == 0, r.err
    assert "Removed the gateway key 'alice'; its conversations stay" in r.err
    with ConversationStore(talkline_home / "talkline.db") as store:
        assert store.gateway_key_by_hash(hash_token(token)) is None
        assert [c.client for c in store.list_conversations(client="alice")] == ["alice"]
    r = run("serve", "keys", "rm", "alice")
    assert r.code == 1 and "Traceback" not in r.err
    assert "No gateway key named 'alice'. See: talkline serve keys list" in r.err
