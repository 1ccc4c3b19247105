"""Conversations in and out: OpenAI `messages` arrays in, talkline's JSON out."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..types import Message
from . import _queries as q
from ._database import Database
from ._models import Conversation, StoredMessage, message_from_row, split_content, title_from_text

__all__ = ["TransferMixin"]


class TransferMixin:
    """Part of ConversationStore."""

    _db: Database

    def import_messages(
        self,
        messages: Iterable[Mapping[str, Any] | Message],
        *,
        title: str | None = None,
        model: str | None = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """A new conversation from an OpenAI `messages` array (or our export's messages).

        A leading system or developer message becomes `Conversation.system` (unless
        `system` is given) and is not stored as a message. Our own fields (model, usage,
        cost, status, created, ...) are kept when present; unknown keys are ignored.
        """
        items = [m.to_dict() if isinstance(m, Message) else dict(m) for m in messages]
        if items and system is None and items[0].get("role") in ("system", "developer"):
            system = split_content(items.pop(0).get("content"))[0]
        prepared = []
        for item in items:
            role = str(item.get("role") or "")
            q.check_role(role)
            known = {k: v for k, v in item.items() if k in q.IMPORT_FIELDS}
            if item.get("parts") is not None:  # `dataclasses.asdict(StoredMessage)` output
                known["content"] = item["parts"]
            created = known.pop("created", None)
            known.setdefault("content", None)
            prepared.append((role, q.encode(known, q.UPDATABLE_FIELDS, "import_messages"), created))
        now = time.time()

        def txn(conn: sqlite3.Connection) -> Conversation:
            cid = q.insert_conversation(conn, model, system, params, title)
            parent: int | None = None
            turns, sums, first_title = 0, [0.0, 0.0, 0.0], None
            for position, (role, columns, created) in enumerate(prepared):
                parent = q.insert_message(
                    conn, cid, parent, position, role, columns, created or now
                )
                turns += role == "user"
                sums = [a + b for a, b in zip(sums, q.amounts(columns), strict=True)]
                if role == "user" and first_title is None:
                    first_title = title_from_text(columns["content"])
            conn.execute(
                "UPDATE conversations SET head_message_id = ?, turns = ?, "
                "title = coalesce(title, ?), prompt_tokens = ?, completion_tokens = ?, "
                "cost = ? WHERE id = ?",
                (parent, turns, first_title, int(sums[0]), int(sums[1]), sums[2], cid),
            )
            return q.load_conversation(conn, cid)

        return self._db.write(txn)

    def export(self, conversation_id: str) -> dict[str, Any]:
        """The conversation and its active path, every field, as JSON-ready data."""

        def query(conn: sqlite3.Connection) -> dict[str, Any]:
            conversation = q.load_conversation(conn, conversation_id)
            path: list[StoredMessage] = []
            if conversation.head_message_id is not None:
                rows = conn.execute(
                    q.PATH + f"SELECT {q.M_COLUMNS} FROM path JOIN messages AS m "
                    "ON m.id = path.id ORDER BY m.position",
                    (conversation.head_message_id,),
                ).fetchall()
                path = [message_from_row(r) for r in rows]
            return {
                "format": "talkline.conversation/1",
                **conversation.to_dict(),
                "messages": [m.to_dict() for m in path],
            }

        return self._db.read(query)
