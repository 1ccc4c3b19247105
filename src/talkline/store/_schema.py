"""Migrations: named functions in an append-only list, each applied once, atomically.

Never edit or reorder a migration that has shipped; append a new one. Each runs in its own
`BEGIN IMMEDIATE` transaction together with its row in `_migrations`, and re-checks that
row inside the transaction, so two processes opening a new database at once cannot apply
one twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["MIGRATIONS", "migrate", "pending_migrations"]

Migration = Callable[[sqlite3.Connection], None]
Step = Callable[[sqlite3.Connection], bool]
Pending = Callable[[sqlite3.Connection], list[Migration]]


def m001_initial(conn: sqlite3.Connection) -> None:
    """Conversations, the message tree, summaries."""
    # head_message_id has no foreign key: the store keeps it valid, and a cycle of keys
    # between the two tables would make every cascade delete harder to reason about.
    conn.execute(
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY NOT NULL,
            title TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            model TEXT,
            system TEXT,
            params TEXT,
            head_message_id INTEGER,
            turns INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0
        )"""
    )
    conn.execute("CREATE INDEX conversations_updated ON conversations (updated, id)")
    conn.execute(
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages (id),
            position INTEGER NOT NULL,
            role TEXT NOT NULL
                CHECK (role IN ('system', 'developer', 'user', 'assistant', 'tool')),
            content TEXT,
            parts TEXT,
            name TEXT,
            tool_calls TEXT,
            tool_call_id TEXT,
            model TEXT,
            requested_model TEXT,
            params TEXT,
            finish_reason TEXT,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('pending', 'complete', 'interrupted', 'error')),
            error TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cached_tokens INTEGER,
            reasoning_tokens INTEGER,
            cost REAL,
            cost_estimated INTEGER NOT NULL DEFAULT 0,
            latency REAL,
            ttft REAL,
            request_id TEXT,
            batch INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX messages_conversation ON messages (conversation_id, id)")
    # Needed by the parent_id foreign key (each deleted message looks up its children)
    # and for finding a message's branches.
    conn.execute("CREATE INDEX messages_parent ON messages (parent_id)")
    conn.execute("CREATE INDEX messages_created ON messages (created)")
    conn.execute(
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            covers_up_to_message_id INTEGER NOT NULL,
            content TEXT NOT NULL,
            model TEXT,
            tokens INTEGER,
            created REAL NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX summaries_conversation ON summaries (conversation_id, id)")


def m002_fts(conn: sqlite3.Connection) -> None:
    """Full-text search over message content, kept in sync by triggers."""
    # External content: the text is stored once, in messages. Porter stems English
    # ("running" finds "run"); remove_diacritics 2 lets "cafe" find "café".
    conn.execute(
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        )"""
    )
    conn.execute(
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN new.content IS NOT NULL BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END"""
    )
    conn.execute(
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.content IS NOT NULL BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END"""
    )
    conn.execute(
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                SELECT 'delete', old.id, old.content WHERE old.content IS NOT NULL;
            INSERT INTO messages_fts (rowid, content)
                SELECT new.id, new.content WHERE new.content IS NOT NULL;
        END"""
    )
    # Index whatever m001 databases already hold.
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")


def m003_writer(conn: sqlite3.Connection) -> None:
    """The process writing a pending reply (id and start time), so that a reply left
    pending by a process that is gone can be told from one still being written."""
    conn.execute("ALTER TABLE messages ADD COLUMN writer_pid INTEGER")
    conn.execute("ALTER TABLE messages ADD COLUMN writer_started REAL")
    conn.execute("CREATE INDEX messages_pending ON messages (status) WHERE status = 'pending'")


def m004_blobs(conn: sqlite3.Connection) -> None:
    """Attachments' bytes, kept once under their SHA-256: a message's `parts` names them
    (`{"type": "image_url", "blob": SHA256, "name": ..., "mime": ...}`)."""
    conn.execute(
        """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY NOT NULL,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            bytes BLOB NOT NULL,
            created REAL NOT NULL
        )"""
    )


def m005_reasoning_items(conn: sqlite3.Connection) -> None:
    """An assistant reply's Responses API reasoning items (JSON: id, summary,
    encrypted_content), sent back on the next turn, and the id of the response it came
    in (`--server-state` continues from it)."""
    conn.execute("ALTER TABLE messages ADD COLUMN reasoning_items TEXT")
    conn.execute("ALTER TABLE messages ADD COLUMN response_id TEXT")


def m006_reasoning_text(conn: sqlite3.Connection) -> None:
    """A reply's reasoning text (`reasoning_content`, `reasoning`, a `<think>` block, a
    Responses API summary), kept apart from its content: never sent back, not searched."""
    conn.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT")


def m007_gateway_keys(conn: sqlite3.Connection) -> None:
    """`talkline serve`'s gateway keys (the SHA-256 of each token, never the token) with
    their budgets, and the `client` label on conversations: the name of the gateway key
    whose requests they hold (NULL: made by talkline itself)."""
    conn.execute(
        """CREATE TABLE gateway_keys (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL UNIQUE,
            token_sha256 TEXT NOT NULL UNIQUE,
            daily_budget REAL,
            monthly_budget REAL,
            created REAL NOT NULL
        )"""
    )
    conn.execute("ALTER TABLE conversations ADD COLUMN client TEXT")
    conn.execute("CREATE INDEX conversations_client ON conversations (client, updated)")


MIGRATIONS: list[Migration] = [m001_initial, m002_fts, m003_writer, m004_blobs,
                               m005_reasoning_items, m006_reasoning_text, m007_gateway_keys]

_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY NOT NULL, applied_at REAL)"
)


def pending_migrations(conn: sqlite3.Connection) -> list[Migration]:
    """The migrations not yet recorded (read only: the usual case costs no write lock)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    done = {r[0] for r in conn.execute("SELECT name FROM _migrations")} if has_table else set()
    return [m for m in MIGRATIONS if m.__name__ not in done]


def migrate(read: Callable[[Pending], list[Migration]], write: Callable[[Step], bool]) -> list[str]:
    """Apply the pending migrations; return the names applied by this call.

    `read(fn)` and `write(fn)` run `fn(conn)` in a read or a BEGIN IMMEDIATE transaction,
    retrying while the database is busy.
    """
    applied: list[str] = []
    for migration in read(pending_migrations):

        def step(c: sqlite3.Connection, migration: Migration = migration) -> bool:
            c.execute(_CREATE_MIGRATIONS)
            name = migration.__name__
            if c.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                return False  # another process got there first
            migration(c)
            c.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            return True

        if write(step):
            applied.append(migration.__name__)
    return applied
