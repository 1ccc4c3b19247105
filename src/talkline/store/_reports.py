"""Reading across conversations: full-text search, usage and spending, summaries."""

from __future__ import annotations

import sqlite3
import time

from . import _queries as q
from ._database import Database
from ._models import SearchHit, Summary, UsageRow, summary_from_row, usage_from_row
from ._search import fts_query

__all__ = ["ReportsMixin"]

_SEARCH = """SELECT m.conversation_id, m.id, m.role, hit.snip, m.created, c.title
FROM (
    SELECT rowid AS id, snippet(messages_fts, 0, ?, ?, '…', 16) AS snip
    FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?
) AS hit
JOIN messages AS m ON m.id = hit.id
JOIN conversations AS c ON c.id = m.conversation_id
ORDER BY m.id DESC"""


class ReportsMixin:
    """Part of ConversationStore."""

    _db: Database

    def search(
        self, query: str, *, limit: int = 20, start_mark: str = "[", end_mark: str = "]"
    ) -> list[SearchHit]:
        """Messages holding every word of `query`, newest first, the matches marked.

        Any text is a valid query (see `fts_query`). "Newest" is insertion order, which
        FTS5 can walk backwards and stop after `limit` hits, even for common words.
        """
        expression = fts_query(query)
        if not expression or limit <= 0:
            return []
        rows = self._db.read(
            lambda c: c.execute(_SEARCH, (start_mark, end_mark, expression, limit)).fetchall()
        )
        return [SearchHit(*r) for r in rows]

    def usage_rows(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[UsageRow]:
        """Usage of every assistant message created in [since, until), oldest first."""
        where, args = q.time_range(since, until)
        rows = self._db.read(
            lambda c: c.execute(
                "SELECT created, conversation_id, coalesce(model, requested_model), "
                "coalesce(prompt_tokens, 0), coalesce(completion_tokens, 0), "
                "coalesce(cached_tokens, 0), coalesce(reasoning_tokens, 0), cost, "
                f"cost_estimated, batch, requested_model FROM messages "
                f"WHERE role = 'assistant'{where} "
                "ORDER BY created, id",
                args,
            ).fetchall()
        )
        return [usage_from_row(r) for r in rows]

    def spent_between(
        self, since: float | None, until: float | None = None, *, client: str | None = None
    ) -> float:
        """The known cost of messages created in [since, until), for budgets; with
        `client`, only in the conversations labelled with that gateway key's name."""
        where, args = q.time_range(since, until)
        sql = f"SELECT coalesce(sum(cost), 0) FROM messages WHERE 1{where}"
        values: list[object] = list(args)
        if client is not None:
            sql += " AND conversation_id IN (SELECT id FROM conversations WHERE client = ?)"
            values.append(client)
        return float(self._db.read(lambda c: c.execute(sql, values).fetchone()[0]))

    # ------------------------------------------------------------ summaries

    def add_summary(
        self,
        conversation_id: str,
        covers_up_to_message_id: int,
        content: str,
        *,
        model: str | None = None,
        tokens: int | None = None,
    ) -> Summary:
        """Record a summary of the path from the root to `covers_up_to_message_id`."""

        def txn(conn: sqlite3.Connection) -> Summary:
            q.message_position(conn, conversation_id, covers_up_to_message_id)
            sid = conn.execute(
                "INSERT INTO summaries (conversation_id, covers_up_to_message_id, content, "
                "model, tokens, created) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, covers_up_to_message_id, content, model, tokens, time.time()),
            ).lastrowid
            return summary_from_row(
                conn.execute("SELECT * FROM summaries WHERE id = ?", (sid,)).fetchone()
            )

        return self._db.write(txn)

    def latest_summary(self, conversation_id: str) -> Summary | None:
        """The newest summary that covers part of the active path (not another branch)."""

        def query(conn: sqlite3.Connection) -> Summary | None:
            head = q.conversation_row(conn, conversation_id, "head_message_id")[0]
            if head is None:
                return None
            row = conn.execute(
                q.PATH + "SELECT s.* FROM summaries AS s JOIN path "
                "ON s.covers_up_to_message_id = path.id WHERE s.conversation_id = ? "
                "ORDER BY s.id DESC LIMIT 1",
                (head, conversation_id),
            ).fetchone()
            return summary_from_row(row) if row else None

        return self._db.read(query)
