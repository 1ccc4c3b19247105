"""Conversations by the gateway client that owns them (the `client` label: a key's name).

The `client` column on `conversations` comes with the gateway keys' migration. A
conversation with no label belongs to the owner of the store (the CLI's own ones).
"""

from __future__ import annotations

import sqlite3

from ._database import Database
from ._errors import ConversationNotFound
from ._models import CONVERSATION_COLUMNS, Conversation, conversation_from_row
from ._search import fts_query

__all__ = ["ClientsMixin"]

_C_COLUMNS = ", ".join("c." + name for name in CONVERSATION_COLUMNS.split(", "))
_MATCHING = """(c.title LIKE ? ESCAPE '\\' OR c.id IN (
    SELECT m.conversation_id FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid
    WHERE messages_fts MATCH ?))"""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ClientsMixin:
    """Part of ConversationStore."""

    _db: Database

    def client_conversations(
        self, client: str | None, *, search: str = "", limit: int = 50
    ) -> list[Conversation]:
        """`client`'s conversations (None: every conversation), newest first; with
        `search`, only those whose title holds it or whose messages hold all its words."""
        where: list[str] = []
        args: list[object] = []
        if client is not None:
            where.append("c.client = ?")
            args.append(client)
        text = search.strip()
        if text:
            expression = fts_query(text)
            if expression:
                where.append(_MATCHING)
                args += [_like(text), expression]
            else:
                where.append("c.title LIKE ? ESCAPE '\\'")
                args.append(_like(text))
        sql = f"SELECT {_C_COLUMNS} FROM conversations AS c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY c.updated DESC, c.id DESC LIMIT ?"
        args.append(max(0, limit))
        rows = self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [conversation_from_row(r) for r in rows]

    def conversation_client(self, conversation_id: str) -> str | None:
        """The label of the client that owns the conversation (None: the store's owner)."""

        def query(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT client FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")
            return row[0] if row[0] is None else str(row[0])

        return self._db.read(query)

    def set_conversation_client(self, conversation_id: str, client: str | None) -> None:
        """Label the conversation as `client`'s (None: the store owner's)."""

        def txn(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE conversations SET client = ? WHERE id = ?", (client, conversation_id)
            ).rowcount

        if not self._db.write(txn):
            raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")
