"""ConversationStore: schema, the message tree, lookup, counters, search, files, transfer."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkline.errors import TalklineError
from talkline.settings import Paths
from talkline.store import (
    MIGRATIONS,
    Conversation,
    ConversationNotFound,
    ConversationStore,
    MessageNotFound,
    StoredMessage,
    StoreError,
    fts_query,
    new_id,
    title_from_text,
)
from talkline.store._ids import ID_ALPHABET
from talkline.store._models import MESSAGE_COLUMNS
from talkline.store._schema import m001_initial
from talkline.store.export import export_text
from talkline.store.imports import import_text
from talkline.types import Message, ToolCall

EXPECTED_SCHEMA = [
    ("table", "_migrations",
     "CREATE TABLE _migrations (name TEXT PRIMARY KEY NOT NULL, applied_at REAL)"),
    ("table", "blobs",
     "CREATE TABLE blobs ( sha256 TEXT PRIMARY KEY NOT NULL, mime TEXT NOT NULL, "
     "size INTEGER NOT NULL, bytes BLOB NOT NULL, created REAL NOT NULL )"),
    ("table", "conversations",
     "CREATE TABLE conversations ( id TEXT PRIMARY KEY NOT NULL, title TEXT, "
     "created REAL NOT NULL, updated REAL NOT NULL, model TEXT, system TEXT, params TEXT, "
     "head_message_id INTEGER, turns INTEGER NOT NULL DEFAULT 0, "
     "prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, "
     "cost REAL NOT NULL DEFAULT 0 , client TEXT)"),
    ("index", "conversations_client",
     "CREATE INDEX conversations_client ON conversations (client, updated)"),
    ("index", "conversations_updated",
     "CREATE INDEX conversations_updated ON conversations (updated, id)"),
    ("table", "gateway_keys",
     "CREATE TABLE gateway_keys ( id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, "
     "token_sha256 TEXT NOT NULL UNIQUE, daily_budget REAL, monthly_budget REAL, "
     "created REAL NOT NULL )"),
    ("table", "messages",
     "CREATE TABLE messages ( id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL "
     "REFERENCES conversations (id) ON DELETE CASCADE, parent_id INTEGER REFERENCES "
     "messages (id), position INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN "
     "('system', 'developer', 'user', 'assistant', 'tool')), content TEXT, parts TEXT, "
     "name TEXT, tool_calls TEXT, tool_call_id TEXT, model TEXT, requested_model TEXT, "
     "params TEXT, finish_reason TEXT, status TEXT NOT NULL DEFAULT 'complete' CHECK "
     "(status IN ('pending', 'complete', 'interrupted', 'error')), error TEXT, "
     "prompt_tokens INTEGER, completion_tokens INTEGER, cached_tokens INTEGER, "
     "reasoning_tokens INTEGER, cost REAL, cost_estimated INTEGER NOT NULL DEFAULT 0, "
     "latency REAL, ttft REAL, request_id TEXT, batch INTEGER NOT NULL DEFAULT 0, "
     "created REAL NOT NULL , writer_pid INTEGER, writer_started REAL, reasoning_items TEXT, "
     "response_id TEXT, reasoning TEXT)"),
    ("index", "messages_conversation",
     "CREATE INDEX messages_conversation ON messages (conversation_id, id)"),
    ("index", "messages_created", "CREATE INDEX messages_created ON messages (created)"),
    ("table", "messages_fts",
     "CREATE VIRTUAL TABLE messages_fts USING fts5( content, content='messages', "
     "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2' )"),
    ("table", "messages_fts_config",
     "CREATE TABLE 'messages_fts_config'(k PRIMARY KEY, v) WITHOUT ROWID"),
    ("table", "messages_fts_data",
     "CREATE TABLE 'messages_fts_data'(id INTEGER PRIMARY KEY, block BLOB)"),
    ("trigger", "messages_fts_delete",
     "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.content IS NOT "
     "NULL BEGIN INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', "
     "old.id, old.content); END"),
    ("table", "messages_fts_docsize",
     "CREATE TABLE 'messages_fts_docsize'(id INTEGER PRIMARY KEY, sz BLOB)"),
    ("table", "messages_fts_idx",
     "CREATE TABLE 'messages_fts_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) "
     "WITHOUT ROWID"),
    ("trigger", "messages_fts_insert",
     "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.content IS NOT "
     "NULL BEGIN INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content); "
     "END"),
    ("trigger", "messages_fts_update",
     "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN INSERT "
     "INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', old.id, "
     "old.content WHERE old.content IS NOT NULL; INSERT INTO messages_fts (rowid, content) "
     "SELECT new.id, new.content WHERE new.content IS NOT NULL; END"),
    ("index", "messages_parent", "CREATE INDEX messages_parent ON messages (parent_id)"),
    ("index", "messages_pending",
     "CREATE INDEX messages_pending ON messages (status) WHERE status = 'pending'"),
    ("index", "sqlite_autoindex__migrations_1", None),
    ("index", "sqlite_autoindex_blobs_1", None),
    ("index", "sqlite_autoindex_conversations_1", None),
    ("index", "sqlite_autoindex_gateway_keys_1", None),
    ("index", "sqlite_autoindex_gateway_keys_2", None),
    ("index", "sqlite_autoindex_gateway_keys_3", None),
    ("table", "summaries",
     "CREATE TABLE summaries ( id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL "
     "REFERENCES conversations (id) ON DELETE CASCADE, covers_up_to_message_id INTEGER "
     "NOT NULL, content TEXT NOT NULL, model TEXT, tokens INTEGER, created REAL NOT NULL )"),
    ("index", "summaries_conversation",
     "CREATE INDEX summaries_conversation ON summaries (conversation_id, id)"),
]  # fmt: skip


@pytest.fixture
def store() -> Iterator[ConversationStore]:
    with ConversationStore() as s:
        yield s


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "talkline.db"


def schema(path: Path) -> list[tuple[str, str, str | None]]:
    """sqlite_master, whitespace in the SQL collapsed (the text is otherwise exact)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        out = [(t, n, " ".join(sql.split()) if sql else None) for t, n, sql in rows]
    conn.close()
    return out


def chat(store: ConversationStore, conv: Conversation, *turns: str) -> list[StoredMessage]:
    """Append alternating user/assistant messages."""
    roles = ("user", "assistant")
    return [store.append_message(conv.id, roles[i % 2], t) for i, t in enumerate(turns)]


# ---------------------------------------------------------------- schema and migrations


def test_blank_database_migrates_to_the_exact_schema(db_path: Path) -> None:
    ConversationStore(db_path).close()
    assert schema(db_path) == EXPECTED_SCHEMA


def test_migrations_are_recorded_once_and_reopening_applies_nothing(db_path: Path) -> None:
    ConversationStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        first = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
    conn.close()
    assert [name for name, _ in first] == [m.__name__ for m in MIGRATIONS]
    for _ in range(3):
        ConversationStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        again = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
    conn.close()
    assert again == first
    assert schema(db_path) == EXPECTED_SCHEMA


def test_later_migration_applies_to_an_older_database_and_indexes_its_messages(
    db_path: Path,
) -> None:
    # A database made by a version that only knew m001, holding one message.
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    m001_initial(conn)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY NOT NULL, applied_at REAL)")
    conn.execute("INSERT INTO _migrations VALUES ('m001_initial', 0)")
    conn.execute("INSERT INTO conversations (id, created, updated) VALUES ('01OLD', 1, 1)")
    conn.execute(
        "INSERT INTO messages (conversation_id, position, role, content, created) "
        "VALUES ('01OLD', 0, 'user', 'an ancient platypus', 1)"
    )
    conn.execute("COMMIT")
    conn.close()
    with ConversationStore(db_path) as store:
        assert [h.snippet for h in store.search("platypus")] == ["an ancient [platypus]"]
    assert schema(db_path) == EXPECTED_SCHEMA


def test_message_columns_match_the_dataclass() -> None:
    fields = [f.name for f in dataclasses.fields(StoredMessage)]
    assert MESSAGE_COLUMNS.split(", ") == fields


# ---------------------------------------------------------------- messages and the tree


def test_append_then_complete_a_pending_reply(store: ConversationStore) -> None:
    conv = store.create_conversation(model="gpt-4o-mini", system="Be brief.", params={"n": 1})
    user = store.append_message(conv.id, "user", "What is 2+2?")
    pending = store.append_message(
        conv.id, "assistant", None, status="pending", requested_model="gpt-4o-mini"
    )
    assert pending.parent_id == user.id and pending.position == 1
    assert store.get_conversation(conv.id).head_message_id == pending.id

    done = store.update_message(
        pending.id,
        content="4",
        status="complete",
        model="gpt-4o-mini-2024-07-18",
        finish_reason="stop",
        prompt_tokens=12,
        completion_tokens=1,
        cached_tokens=0,
        cost=0.0003,
        cost_estimated=True,
        latency=0.5,
        ttft=0.2,
        request_id="req_1",
        params={"temperature": 0.2},
    )
    assert (done.content, done.status, done.model, done.finish_reason) == (
        "4",
        "complete",
        "gpt-4o-mini-2024-07-18",
        "stop",
    )
    assert done.cost_estimated is True and done.params == {"temperature": 0.2}
    assert [m.content for m in store.messages(conv.id)] == ["What is 2+2?", "4"]
    assert [m.position for m in store.messages(conv.id)] == [0, 1]
    assert store.messages(conv.id)[-1] == done
    got = store.get_conversation(conv.id)
    assert (got.model, got.system, got.params) == ("gpt-4o-mini", "Be brief.", {"n": 1})


def test_retry_forks_and_messages_follow_the_head(store: ConversationStore) -> None:
    conv = store.create_conversation()
    user, first = chat(store, conv, "Tell me a joke", "Joke one")
    retry = store.append_message(conv.id, "assistant", "Joke two", parent_id=user.id)
    assert [m.id for m in store.all_messages(conv.id) if m.parent_id == user.id] == [
        first.id, retry.id]
    assert [m.content for m in store.messages(conv.id)] == ["Tell me a joke", "Joke two"]
    assert [m.content for m in store.messages(conv.id, head=first.id)] == [
        "Tell me a joke",
        "Joke one",
    ]
    assert len(store.all_messages(conv.id)) == 3

    store.set_head(conv.id, first.id)  # back to the first answer
    assert [m.content for m in store.messages(conv.id)] == ["Tell me a joke", "Joke one"]
    follow = store.append_message(conv.id, "user", "Another")
    assert follow.parent_id == first.id and follow.position == 2


def test_editing_the_first_message_starts_a_new_root(store: ConversationStore) -> None:
    conv = store.create_conversation()
    chat(store, conv, "Hello", "Hi", "How are you?", "Fine")
    assert store.get_conversation(conv.id).turns == 2
    edited = store.append_message(conv.id, "user", "Hello again", parent_id=None)
    assert edited.position == 0 and edited.parent_id is None
    assert [m.content for m in store.messages(conv.id)] == ["Hello again"]
    assert store.get_conversation(conv.id).turns == 1


def test_undo_with_set_head(store: ConversationStore) -> None:
    conv = store.create_conversation()
    msgs = chat(store, conv, "a", "b", "c", "d")
    after = store.set_head(conv.id, msgs[1].id)
    assert after.head_message_id == msgs[1].id and after.turns == 1
    assert [m.content for m in store.messages(conv.id)] == ["a", "b"]
    assert store.set_head(conv.id, None).turns == 0
    assert store.messages(conv.id) == []


def test_messages_of_another_conversation_are_refused(store: ConversationStore) -> None:
    one, two = store.create_conversation(), store.create_conversation()
    (mine,) = chat(store, one, "mine")
    with pytest.raises(MessageNotFound):
        store.set_head(two.id, mine.id)
    with pytest.raises(MessageNotFound):
        store.append_message(two.id, "user", "x", parent_id=mine.id)
    with pytest.raises(MessageNotFound):
        store.messages(two.id, head=mine.id)
    with pytest.raises(MessageNotFound):
        store.update_message(99999, content="x")
    with pytest.raises(ConversationNotFound):
        store.append_message("01NOSUCHCONVERSATION000000", "user", "x")
    with pytest.raises(ConversationNotFound):
        store.messages("01NOSUCHCONVERSATION000000")


def test_bad_fields_roles_and_statuses_are_refused(store: ConversationStore) -> None:
    conv = store.create_conversation()
    with pytest.raises(TypeError, match="colour"):
        store.append_message(conv.id, "user", "x", colour="red")
    with pytest.raises(TypeError, match="role"):
        store.update_message(1, role="user")
    with pytest.raises(ValueError, match="role"):
        store.append_message(conv.id, "robot", "x")
    with pytest.raises(ValueError, match="status"):
        store.append_message(conv.id, "user", "x", status="done")
    assert store.all_messages(conv.id) == []


def test_tool_calls_parts_and_to_message(store: ConversationStore) -> None:
    conv = store.create_conversation()
    call = ToolCall(id="call_1", name="weather", arguments='{"city": "Paris"}')
    parts = [
        {"type": "text", "text": "What is in "},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this picture?"},
    ]
    user = store.append_message(conv.id, "user", parts)
    assert user.content == "What is in this picture?"
    sha = hashlib.sha256(b"\x00\x00\x00").hexdigest()  # the bytes are a blob, named by hash
    assert user.parts is not None and user.parts[1] == {
        "type": "image_url", "blob": sha, "name": "image", "mime": "image/png", "size": 3}
    asked = store.append_message(conv.id, "assistant", None, tool_calls=[call])
    answer = store.append_message(conv.id, "tool", "sunny", tool_call_id="call_1", name="weather")
    assert [store.expand(m) for m in store.messages(conv.id)] == [
        Message("user", parts),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "sunny", name="weather", tool_call_id="call_1"),
    ]
    assert asked.tool_calls == (call,) and answer.tool_call_id == "call_1"
    assert store.search("picture")[0].message_id == user.id


# ---------------------------------------------------------------- conversations


def test_prefix_lookup_unique_ambiguous_unknown(store: ConversationStore) -> None:
    convs = [store.create_conversation(title=f"c{i}") for i in range(7)]
    target = convs[3]
    assert store.get_conversation(target.id) == target
    assert store.get_conversation(target.id[:14].lower()).id == target.id
    shared = os.path.commonprefix([c.id for c in convs])
    with pytest.raises(ConversationNotFound) as ambiguous:
        store.get_conversation(shared)
    text = str(ambiguous.value)
    assert "matches several" in text and "and more" in text
    assert sum(c.id in text for c in convs) == 5
    with pytest.raises(ConversationNotFound) as unknown:
        store.get_conversation("ZZZZ")
    assert unknown.value.exit_code == 2 and isinstance(unknown.value, TalklineError)
    assert "talkline history list" in str(unknown.value)
    with pytest.raises(ConversationNotFound):
        store.get_conversation("  ")


def test_ids_are_26_character_sortable_and_unique() -> None:
    ids = [new_id() for _ in range(5000)]
    assert all(len(i) == 26 for i in ids) and len(set(ids)) == 5000
    assert ids == sorted(ids)
    millis = sum(ID_ALPHABET.index(ch) << (5 * (9 - i)) for i, ch in enumerate(ids[-1][:10]))
    assert abs(millis / 1000 - time.time()) < 60
    assert len({i[:14] for i in ids}) == 5000  # 4 random characters tell them apart


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello   there\n\tworld", "Hello there"),
        ("\n\n   \n  Second line first  ", "Second line first"),
        ("x" * 60, "x" * 60),
        ("word " * 20, ("word " * 12)[:59].rstrip() + "…"),
        ("", None),
        ("   \n ", None),
        (None, None),
    ],
)
def test_title_from_text(text: str | None, title: str | None) -> None:
    assert title_from_text(text) == title
    assert title is None or len(title) <= 60


def test_title_comes_from_the_first_user_message_only(store: ConversationStore) -> None:
    conv = store.create_conversation()
    store.append_message(conv.id, "system", "You are a pirate.")
    chat(store, conv, "First   question\nmore text", "Answer", "Second question")
    assert store.get_conversation(conv.id).title == "First question"
    titled = store.create_conversation(title="Mine")
    chat(store, titled, "Something else")
    assert store.get_conversation(titled.id).title == "Mine"
    assert store.set_title(titled.id, "  Renamed ").title == "Renamed"
    changed = store.update_conversation(titled.id, model="o3", system="S", params={"seed": 1})
    assert (changed.model, changed.system, changed.params) == ("o3", "S", {"seed": 1})
    with pytest.raises(TypeError, match="colour"):
        store.update_conversation(titled.id, colour="red")
    with pytest.raises(ConversationNotFound):
        store.set_title("01NOSUCHCONVERSATION000000", "x")


def test_counters_cover_every_branch(store: ConversationStore) -> None:
    conv = store.create_conversation()
    user = store.append_message(conv.id, "user", "q")
    a1 = store.append_message(
        conv.id, "assistant", "a1", prompt_tokens=10, completion_tokens=5, cost=0.5
    )
    store.append_message(
        conv.id,
        "assistant",
        "a2",
        parent_id=user.id,
        prompt_tokens=10,
        completion_tokens=7,
        cost=0.25,
    )
    store.update_message(a1.id, completion_tokens=6, cost=None)
    got = store.get_conversation(conv.id)
    assert (got.turns, got.prompt_tokens, got.completion_tokens) == (1, 20, 13)
    assert got.cost == pytest.approx(0.25)


def test_listing_is_newest_updated_first(store: ConversationStore) -> None:
    convs = [store.create_conversation(title=str(i)) for i in range(5)]
    store.append_message(convs[1].id, "user", "bump")
    listed = [c.title for c in store.list_conversations()]
    assert listed == ["1", "4", "3", "2", "0"]
    assert [c.title for c in store.list_conversations(limit=2, offset=1)] == ["4", "3"]
    latest = store.latest_conversation()
    assert latest is not None and latest.id == convs[1].id
    with ConversationStore() as empty:
        assert empty.latest_conversation() is None


# ---------------------------------------------------------------- search


def test_search_finds_highlights_newest_first(store: ConversationStore) -> None:
    one = store.create_conversation(title="Cooking")
    two = store.create_conversation(title="Travel")
    old = store.append_message(one.id, "user", "A recipe with saffron and rice")
    store.append_message(one.id, "assistant", "Nothing to see here")
    new = store.append_message(two.id, "assistant", "Saffron fields near Valencia")
    hits = store.search("saffron")
    assert [h.message_id for h in hits] == [new.id, old.id]
    assert hits[0].snippet == "[Saffron] fields near Valencia"
    assert (hits[0].conversation_id, hits[0].title, hits[0].role) == (two.id, "Travel", "assistant")
    assert hits[0].created == new.created
    assert [h.message_id for h in store.search("saffron rice")] == [old.id]
    assert store.search("saffron", limit=1)[0].message_id == new.id
    marked = store.search("valencia", start_mark="<b>", end_mark="</b>")
    assert marked[0].snippet == "Saffron fields near <b>Valencia</b>"
    assert [h.message_id for h in store.search("recipes")] == [old.id]  # stemmed
    assert [h.message_id for h in store.search("saff*")] == [new.id, old.id]
    assert [h.message_id for h in store.search('"fields near"')] == [new.id]
    assert store.search('"near fields"') == []


@pytest.mark.parametrize(
    "query",
    ["foo-bar", '"unbalanced', "c++", "AND", "OR", "NOT", "NEAR(", "a OR", "*", "-", '"',
     '""', "'", "(", ")", "col:foo", "^start", "x AND (y", "🙂", "", "   ", "NEAR(a b, 2)",
     "a:b:c", '"a" "b', "\\", "foo*bar", "***", "_", "0\x00", '"\x00"'],
)  # fmt: skip
def test_weird_queries_never_raise(store: ConversationStore, query: str) -> None:
    conv = store.create_conversation()
    chat(store, conv, "foo-bar and c++ with AND or NOT near a start col:foo")
    assert isinstance(store.search(query), list)


def test_arbitrary_text_is_a_valid_query(store: ConversationStore) -> None:
    conv = store.create_conversation()
    chat(store, conv, "some text to search through, ünïcödé too")

    @settings(max_examples=300, deadline=None)
    @given(st.text())
    def check(query: str) -> None:
        store.search(query)
        assert fts_query(query) == "" or fts_query(query).startswith('"')

    check()


def test_search_stays_in_sync_after_update_and_delete(store: ConversationStore) -> None:
    conv = store.create_conversation()
    msg = store.append_message(conv.id, "assistant", "", status="pending")
    assert store.search("zebra") == []
    store.update_message(msg.id, content="A zebra crossing")
    assert [h.message_id for h in store.search("zebra")] == [msg.id]
    store.update_message(msg.id, content="A pelican crossing")
    assert store.search("zebra") == []
    assert [h.message_id for h in store.search("pelican")] == [msg.id]
    store.update_message(msg.id, content=None)
    assert store.search("pelican") == []
    store.update_message(msg.id, content="pelican again")
    store.delete_conversation(conv.id)
    assert store.search("pelican") == []
    assert store._db.conn.execute(
        "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')"
    )


# ---------------------------------------------------------------- delete, usage, summaries


def test_delete_cascades(store: ConversationStore) -> None:
    keep, gone = store.create_conversation(), store.create_conversation()
    chat(store, keep, "keep me")
    msgs = chat(store, gone, "q", "a", "q2", "a2")
    store.append_message(gone.id, "assistant", "branch", parent_id=msgs[0].id)
    store.add_summary(gone.id, msgs[1].id, "a summary")
    store.delete_conversation(gone.id)
    conn = store._db.conn
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM summaries").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(ConversationNotFound):
        store.get_conversation(gone.id)
    with pytest.raises(ConversationNotFound):
        store.delete_conversation(gone.id)
    assert [m.content for m in store.messages(keep.id)] == ["keep me"]


def test_usage_rows_and_spending(store: ConversationStore) -> None:
    conv = store.create_conversation(model="m")
    store.append_message(conv.id, "user", "q", cost=None)
    store.append_message(
        conv.id,
        "assistant",
        "a",
        model="m-2024",
        requested_model="m",
        prompt_tokens=3,
        completion_tokens=4,
        cached_tokens=1,
        reasoning_tokens=2,
        cost=0.5,
        batch=True,
    )
    mid = time.time()
    time.sleep(0.01)
    store.append_message(
        conv.id,
        "assistant",
        "b",
        status="error",
        requested_model="m",
        error="boom",
        cost=0.25,
        cost_estimated=True,
    )
    rows = store.usage_rows()
    assert [
        (
            r.model,
            r.prompt_tokens,
            r.completion_tokens,
            r.cached_tokens,
            r.reasoning_tokens,
            r.cost,
            r.cost_estimated,
            r.batch,
        )
        for r in rows
    ] == [
        ("m-2024", 3, 4, 1, 2, 0.5, False, True),
        ("m", 0, 0, 0, 0, 0.25, True, False),
    ]
    assert rows[0].conversation_id == conv.id
    assert len(store.usage_rows(since=mid)) == 1 and len(store.usage_rows(until=mid)) == 1
    assert store.spent_between(None) == pytest.approx(0.75)
    assert store.spent_between(mid, time.time() + 1) == pytest.approx(0.25)
    assert store.spent_between(time.time() + 10) == 0.0


def test_latest_summary_follows_the_active_branch(store: ConversationStore) -> None:
    conv = store.create_conversation()
    assert store.latest_summary(conv.id) is None
    user, first = chat(store, conv, "q", "a1")
    s1 = store.add_summary(conv.id, user.id, "summary of q", model="m", tokens=5)
    s2 = store.add_summary(conv.id, first.id, "summary of q and a1")
    assert store.latest_summary(conv.id) == s2
    store.append_message(conv.id, "assistant", "a2", parent_id=user.id)
    assert store.latest_summary(conv.id) == s1  # s2 covers the other branch
    assert (s1.model, s1.tokens, s1.covers_up_to_message_id) == ("m", 5, user.id)
    other = store.create_conversation()
    with pytest.raises(MessageNotFound):
        store.add_summary(other.id, user.id, "wrong conversation")


# ---------------------------------------------------------------- import and export


def test_import_export_round_trip(store: ConversationStore) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    openai = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi\nthere"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 42."}]},
        {"role": "user", "content": "Thanks", "unknown_key": 1},
    ]
    conv = store.import_messages(openai, model="gpt-4o", title=None)
    assert (conv.system, conv.title, conv.model, conv.turns) == ("Be terse.", "Hi", "gpt-4o", 2)
    path = store.messages(conv.id)
    assert [m.to_message() for m in path] == [
        Message.from_dict({k: v for k, v in m.items() if k != "unknown_key"}) for m in openai[1:]
    ]
    assert path[-1].id == conv.head_message_id and [m.position for m in path] == [0, 1, 2, 3, 4]

    store.update_message(path[2].id, prompt_tokens=7, cost=0.1, model="gpt-4o-x")
    def export(cid: str) -> dict:  # type: ignore[type-arg]
        # talkline's JSON export, its conversation's fields at the top as the old one had
        data = json.loads(export_text(store, cid, "json"))
        return {**data["conversation"], "messages": data["messages"]}

    exported = export(conv.id)
    assert exported["system"] == "Be terse."
    copy = import_text(store, export_text(store, conv.id, "json"))
    again = export(copy.id)
    volatile = {
        "id",
        "conversation_id",
        "parent_id",
        "head_message_id",
        "created",
        "updated",
        "messages",
    }

    def strip(data: dict) -> dict:  # type: ignore[type-arg]
        return {k: v for k, v in data.items() if k not in volatile}

    assert strip(again) == strip(exported)
    assert [strip(m) for m in again["messages"]] == [strip(m) for m in exported["messages"]]
    assert [m["created"] for m in again["messages"]] == [m["created"] for m in exported["messages"]]
    assert again["prompt_tokens"] == 7 and again["cost"] == pytest.approx(0.1)


def test_import_accepts_asdict_of_stored_messages(store: ConversationStore) -> None:
    conv = store.create_conversation()
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "u"}}]
    store.append_message(conv.id, "user", parts)
    call = ToolCall(id="c1", name="f", arguments="{}")
    store.append_message(conv.id, "assistant", None, tool_calls=[call])
    flat = [dataclasses.asdict(m) for m in store.messages(conv.id)]
    copy = store.import_messages(flat)
    assert [m.to_message() for m in store.messages(copy.id)] == [
        m.to_message() for m in store.messages(conv.id)
    ]


def test_import_accepts_message_objects_and_refuses_bad_roles(store: ConversationStore) -> None:
    conv = store.import_messages([Message("developer", "Rules"), Message("user", "Go")])
    assert conv.system == "Rules" and [m.role for m in store.messages(conv.id)] == ["user"]
    before = len(store.list_conversations())
    with pytest.raises(ValueError, match="role"):
        store.import_messages([{"role": "user", "content": "x"}, {"role": "bot"}])
    assert len(store.list_conversations()) == before


# ---------------------------------------------------------------- files and errors


def test_files_are_private(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data" / "talkline")
    old_umask = os.umask(0o022)
    try:
        with ConversationStore.open(paths) as store:
            assert os.umask(0o022) == 0o022  # restored after opening
            conv = store.create_conversation()
            store.append_message(conv.id, "user", "secret")
            db = paths.database
            assert stat.S_IMODE(paths.data_dir.stat().st_mode) == 0o700
            for name in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    finally:
        os.umask(old_umask)
    os.chmod(paths.database, 0o644)
    with ConversationStore.open(paths):
        assert stat.S_IMODE(paths.database.stat().st_mode) == 0o600


def test_file_store_uses_wal_foreign_keys_and_normal_sync(db_path: Path) -> None:
    with ConversationStore(db_path, busy_timeout=2.5) as store:
        conn = store._db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
        assert store.path == db_path


def test_memory_store_is_usable_and_private_to_each_instance() -> None:
    with ConversationStore(":memory:") as one, ConversationStore() as two:
        conv = one.create_conversation()
        chat(one, conv, "hello")
        assert one.path is None and two.list_conversations() == []
        assert one.search("hello")[0].conversation_id == conv.id


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text\n" * 200, b"SQLite format 3\x00" + b"\xff" * 4096],
)
def test_a_file_that_is_not_a_database_gives_store_error(db_path: Path, content: bytes) -> None:
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    text = str(info.value)
    assert str(db_path) in text and "Move it aside" in text and "mv " in text


def test_damaged_pages_give_store_errors_not_tracebacks(db_path: Path) -> None:
    with ConversationStore(db_path) as store:
        for i in range(40):
            conv = store.create_conversation()
            chat(store, conv, f"message {i} " + "lorem ipsum " * 200, "reply " * 300)
    size = db_path.stat().st_size
    with open(db_path, "r+b") as fh:
        for offset in range(4096 * 2, size, 4096 * 3):
            fh.seek(offset)
            fh.write(os.urandom(4096))
    errors = 0
    try:
        with ConversationStore(db_path) as store:
            for call in (
                store.list_conversations,
                lambda: store.search("lorem"),
                lambda: [store.messages(c.id) for c in store.list_conversations(limit=100)],
                lambda: store.create_conversation(),
            ):
                try:
                    call()
                except StoreError as exc:
                    errors += 1
                    assert str(db_path) in str(exc)
    except StoreError:
        errors += 1
    assert errors > 0


def test_a_missing_folder_gives_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot open"):
        ConversationStore(tmp_path / "no" / "such" / "dir" / "t.db")


def test_closed_store_refuses_politely() -> None:
    store = ConversationStore()
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_conversations()


def test_a_long_lock_becomes_store_error_and_a_short_one_is_waited_out(db_path: Path) -> None:
    with ConversationStore(db_path, busy_timeout=0.3) as store:
        conv = store.create_conversation()
        blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreError, match="stayed busy") as info:
            store.append_message(conv.id, "user", "blocked")
        assert time.monotonic() - started < 3
        assert "database is locked" not in str(info.value)
        threading.Timer(0.1, lambda: blocker.execute("COMMIT")).start()
        store.append_message(conv.id, "user", "waited")  # the lock is gone within 0.3 s
        time.sleep(0.05)
        blocker.close()
        assert [m.content for m in store.messages(conv.id)] == ["waited"]


def test_threads_can_share_one_store(db_path: Path) -> None:
    with ConversationStore(db_path) as store:
        conv = store.create_conversation()

        def work(n: int) -> None:
            for i in range(25):
                store.append_message(conv.id, "user", f"t{n} m{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        path = store.messages(conv.id)
        assert len(path) == 100 and [m.position for m in path] == list(range(100))
        assert store.get_conversation(conv.id).turns == 100
