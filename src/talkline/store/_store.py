"""ConversationStore: the only code in talkline that writes SQL.

Messages form a tree: retrying or editing a turn adds a sibling instead of overwriting,
and each conversation points at the tip of its active branch (`head_message_id`). The
active path is found by walking `parent_id` up from the head.
"""

from __future__ import annotations

import operator
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from ..attachments import Blob, to_stored
from . import _queries as q
from ._blobs import BlobsMixin, insert_blobs
from ._clients import ClientsMixin
from ._database import Database
from ._errors import ConversationNotFound, MessageNotFound, StoreError
from ._gateway_keys import GatewayKeysMixin
from ._models import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    Conversation,
    StoredMessage,
    conversation_from_row,
    dump_object,
    message_from_row,
    stored_title,
    title_from_text,
)
from ._reports import ReportsMixin
from ._transfer import TransferMixin
from ._writers import abandoned_rows, mark_abandoned, this_writer

if TYPE_CHECKING:
    from ..settings import Paths as Paths

__all__ = ["ConversationStore"]

_by_position = operator.itemgetter(3)  # MESSAGE_COLUMNS[3]


class ConversationStore(ReportsMixin, TransferMixin, BlobsMixin, GatewayKeysMixin,
                        ClientsMixin):
    """Conversations and their messages in one SQLite file (or in memory).

    Every write commits before the method returns, so a message is durable as soon as
    `append_message` is back (WAL with synchronous=NORMAL: safe against a crash of the
    process; a power cut may lose the last few commits). Safe to share between threads;
    many processes may use one file at once.
    """

    def __init__(self, path: str | Path = ":memory:", *, busy_timeout: float = 30.0) -> None:
        self._db = Database(path, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    def open(cls, paths: Paths, *, busy_timeout: float = 30.0) -> ConversationStore:
        """The user's database (`paths.database`), its folder created private (0700)."""
        try:
            paths.ensure_private_dir(paths.data_dir)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data folder {paths.data_dir}: {exc.strerror}",
                hint="Check its permissions, or point TALKLINE_HOME somewhere writable.",
            ) from None
        store = cls(paths.database, busy_timeout=busy_timeout)
        try:
            store.mark_abandoned()
        except StoreError:
            pass  # a read-only or full database still opens; the rows stay pending
        return store

    def mark_abandoned(self) -> int:
        """Mark replies left `pending` by a process that is gone as `interrupted`, keeping
        their text; replies another live process is writing are left alone. Returns how
        many were marked."""
        rows = self._db.read(abandoned_rows)
        if not rows:
            return 0
        return self._db.write(lambda conn: mark_abandoned(conn, rows))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ conversations

    def create_conversation(
        self,
        *,
        model: str | None = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        title: str | None = None,
        client: str | None = None,
    ) -> Conversation:
        """`client` labels the conversation with the gateway key (`talkline serve`) whose
        requests it holds; its spending then counts against that key's budgets."""

        def txn(conn: sqlite3.Connection) -> Conversation:
            cid = q.insert_conversation(conn, model, system, params, title, client)
            return q.load_conversation(conn, cid)

        return self._db.write(txn)

    def get_conversation(self, id_or_prefix: str) -> Conversation:
        """The conversation whose id is, or starts with, `id_or_prefix` (any case)."""
        key = id_or_prefix.strip().upper()
        if not key:
            raise ConversationNotFound("No conversation id was given.")
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
                "WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                (key, key + "~"),  # "~" sorts after every id character
            ).fetchall()
        )
        if not rows:
            raise ConversationNotFound(f"No conversation has an id starting with {key!r}.")
        if len(rows) > 1:
            found = [conversation_from_row(r) for r in rows]
            listed = "; ".join(f"{c.id} ({c.title or 'untitled'})" for c in found[:5])
            more = ", and more" if len(found) > 5 else ""
            raise ConversationNotFound(
                f"{key!r} matches several conversations: {listed}{more}.",
                hint="Type more characters of the id.",
            )
        return conversation_from_row(rows[0])

    def latest_conversation(self) -> Conversation | None:
        """The most recently updated conversation, if any (for `--continue`)."""
        found = self.list_conversations(limit=1)
        return found[0] if found else None

    def list_conversations(
        self, *, limit: int = 20, offset: int = 0, client: str | None = None
    ) -> list[Conversation]:
        """Newest (last updated) first; with `client`, only that gateway key's."""
        where, args = ("WHERE client = ? ", [client]) if client is not None else ("", [])
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations {where}"
                "ORDER BY updated DESC, id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        )
        return [conversation_from_row(r) for r in rows]

    def update_conversation(self, conversation_id: str, **fields: Any) -> Conversation:
        """Change `title`, `model`, `system` or `params` (the defaults for new turns), or
        `client` (the gateway key whose requests the conversation holds)."""
        unknown = set(fields) - q.CONVERSATION_FIELDS
        if unknown:
            raise TypeError(f"unknown conversation field(s): {', '.join(sorted(unknown))}")
        values = {k: (dump_object(v) if k == "params" else v) for k, v in fields.items()}
        if "title" in values:
            values["title"] = stored_title(values["title"])

        def txn(conn: sqlite3.Connection) -> Conversation:
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                conn.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = ?",
                    (*values.values(), conversation_id),
                )
            return q.load_conversation(conn, conversation_id)

        return self._db.write(txn)

    def set_title(self, conversation_id: str, title: str | None) -> Conversation:
        return self.update_conversation(conversation_id, title=title)

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation with its messages and summaries (and their search index)."""

        def txn(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            ).rowcount

        if not self._db.write(txn):
            raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")

    # ------------------------------------------------------------ messages

    def append_message(
        self,
        conversation_id: str,
        role: str,
        content: str | Sequence[Mapping[str, Any]] | None,
        *,
        parent_id: int | None | EllipsisType = ...,
        status: str = "complete",
        blobs: Sequence[Blob] = (),
        **fields: Any,
    ) -> StoredMessage:
        """Add a message under `parent_id` (default: the head) and make it the head.

        A parent other than the head forks a new branch (retry, edit); None starts a new
        root. The first user message titles an untitled conversation. Committed on return.
        Content parts with embedded files (`data:` URLs, audio) are stored as references
        to `blobs` rows (`attachments.to_stored`); `blobs` adds the blobs that parts
        already stored as references name.
        """
        q.check_role(role)
        titled = content if isinstance(content, str) else None
        if content is not None and not isinstance(content, str):
            content, found = to_stored(content)
            blobs = [*blobs, *found]
            titled = next((str(p.get("text")) for p in content if p.get("type") == "text"),
                          None)  # the prompt, not an attached file's text after it
        columns = q.encode(fields, q.APPEND_FIELDS, "append_message")
        columns.update(q.encode({"content": content, "status": status}, q.UPDATABLE_FIELDS, ""))
        if status == "pending":  # who writes it: see _writers
            columns["writer_pid"], columns["writer_started"] = this_writer()
        now = time.time()

        def txn(conn: sqlite3.Connection) -> StoredMessage:
            row = conn.execute(
                "SELECT head_message_id, title FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")
            head, title = row
            insert_blobs(conn, blobs)
            parent = head if isinstance(parent_id, EllipsisType) else parent_id
            position = 0
            if parent is not None:
                position = q.message_position(conn, conversation_id, parent) + 1
            mid = q.insert_message(conn, conversation_id, parent, position, role, columns, now)
            if parent == head:
                turns_sql, turns_arg = "turns + ?", int(role == "user")
            else:
                turns_sql, turns_arg = "?", q.count_turns(conn, mid)
            new_title = title_from_text(titled) if role == "user" else None
            conn.execute(
                f"""UPDATE conversations SET head_message_id = ?, updated = ?,
                turns = {turns_sql}, title = coalesce(title, ?), prompt_tokens = prompt_tokens
                + ?, completion_tokens = completion_tokens + ?, cost = cost + ? WHERE id = ?""",
                (mid, now, turns_arg, new_title, *q.amounts(columns), conversation_id),
            )
            return q.load_message(conn, mid)

        return self._db.write(txn)

    def update_message(self, message_id: int, **fields: Any) -> StoredMessage:
        """Change a message's fields, e.g. complete a pending reply. Committed on return."""
        columns = q.encode(fields, q.UPDATABLE_FIELDS, "update_message")

        def txn(conn: sqlite3.Connection) -> StoredMessage:
            old = conn.execute(
                "SELECT conversation_id, prompt_tokens, completion_tokens, cost "
                "FROM messages WHERE id = ?",
                (message_id,),
            ).fetchone()
            if old is None:
                raise MessageNotFound(f"No message has the id {message_id}.")
            if not columns:
                return q.load_message(conn, message_id)
            assignments = ", ".join(f"{k} = ?" for k in columns)
            conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ?", (*columns.values(), message_id)
            )
            delta = [
                (columns[name] or 0) - (old[i + 1] or 0) if name in columns else 0
                for i, name in enumerate(q.COUNTERS)
            ]
            conn.execute(
                "UPDATE conversations SET updated = ?, prompt_tokens = prompt_tokens + ?, "
                "completion_tokens = completion_tokens + ?, cost = cost + ? WHERE id = ?",
                (time.time(), *delta, old[0]),
            )
            return q.load_message(conn, message_id)

        return self._db.write(txn)

    def messages(self, conversation_id: str, *, head: int | None = None) -> list[StoredMessage]:
        """The active path, root first: from the conversation's head, or from `head`."""

        def query(conn: sqlite3.Connection) -> list[StoredMessage]:
            tip = head
            if tip is None:
                tip = q.conversation_row(conn, conversation_id, "head_message_id")[0]
                if tip is None:
                    return []
            rows = conn.execute(
                q.PATH + f"SELECT {q.M_COLUMNS} FROM path JOIN messages AS m ON m.id = path.id "
                "WHERE m.conversation_id = ?",
                (tip, conversation_id),
            ).fetchall()
            rows.sort(key=_by_position)  # cheaper here than a temporary B-tree in SQLite
            if not rows:
                q.conversation_row(conn, conversation_id, "id")
                raise MessageNotFound(
                    f"Message {tip} is not in the conversation {conversation_id}."
                )
            return [message_from_row(r) for r in rows]

        return self._db.read(query)

    def all_messages(self, conversation_id: str) -> list[StoredMessage]:
        """Every message, other branches included, oldest first."""

        def query(conn: sqlite3.Connection) -> list[StoredMessage]:
            q.conversation_row(conn, conversation_id, "id")
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
            return [message_from_row(r) for r in rows]

        return self._db.read(query)

    def set_head(self, conversation_id: str, message_id: int | None) -> Conversation:
        """Move the active branch's tip (None: an empty path). For /undo and /retry."""

        def txn(conn: sqlite3.Connection) -> Conversation:
            q.conversation_row(conn, conversation_id, "id")
            turns = 0
            if message_id is not None:
                q.message_position(conn, conversation_id, message_id)
                turns = q.count_turns(conn, message_id)
            conn.execute(
                "UPDATE conversations SET head_message_id = ?, turns = ?, updated = ? WHERE id = ?",
                (message_id, turns, time.time(), conversation_id),
            )
            return q.load_conversation(conn, conversation_id)

        return self._db.write(txn)
