"""Conversations in: OpenAI `messages` arrays and talkline's JSON export, as a new
conversation (the formats are read in `imports.py`, written in `export.py`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..attachments import Blob, to_stored
from ..types import Message
from . import _queries as q
from ._blobs import insert_blobs
from ._database import Database
from ._models import Conversation, split_content, title_from_text

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
        head: int | None = None,
        blobs: Sequence[Blob] = (),
    ) -> Conversation:
        """A new conversation from an OpenAI `messages` array (or our export's messages).

        A leading system or developer message becomes `Conversation.system` (unless
        `system` is given) and is not stored as a message. Our own fields (model, usage,
        cost, status, created, ...) are kept when present; unknown keys are ignored.
        When every message has an integer `id`, their `parent_id`s rebuild the tree
        (other branches included) and `head`, one of those ids, is the active tip; a
        parent that is not among the earlier messages means the message before.
        Otherwise the messages form one path, each answering the one before.
        """
        items = [m.to_dict() if isinstance(m, Message) else dict(m) for m in messages]
        tree = bool(items) and all(type(i.get("id")) is int for i in items)
        if (items and system is None and not tree
                and items[0].get("role") in ("system", "developer")):
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
            if isinstance(known["content"], list):  # embedded files become blobs
                known["content"], found = to_stored(known["content"])
                blobs = [*blobs, *found]
            columns = q.encode(known, q.UPDATABLE_FIELDS, "import_messages")
            link = (item["id"], item.get("parent_id")) if tree else None
            prepared.append((role, columns, created, link))
        now = time.time()

        def txn(conn: sqlite3.Connection) -> Conversation:
            cid = q.insert_conversation(conn, model, system, params, title)
            insert_blobs(conn, blobs)
            new_ids: dict[int, int] = {}
            parents: dict[int, int | None] = {}
            depth: dict[int | None, int] = {None: -1}
            users: dict[int, bool] = {}
            texts: dict[int, Any] = {}
            last: int | None = None
            sums = [0.0, 0.0, 0.0]
            for role, columns, created, link in prepared:
                parent = last
                if link is not None and link[1] is None:
                    parent = None
                elif link is not None and link[1] in new_ids:
                    parent = new_ids[link[1]]
                position = depth[parent] + 1
                last = q.insert_message(conn, cid, parent, position, role, columns,
                                        created or now)
                if link is not None:
                    new_ids.setdefault(link[0], last)
                parents[last], depth[last] = parent, position
                users[last], texts[last] = role == "user", columns["content"]
                sums = [a + b for a, b in zip(sums, q.amounts(columns), strict=True)]
            tip = new_ids.get(head, last) if head is not None else last
            path: list[int] = []
            node = tip
            while node is not None:
                path.append(node)
                node = parents[node]
            path.reverse()
            asked = [texts[n] for n in path if users[n]]
            first_title = title_from_text(asked[0]) if asked else None
            conn.execute(
                "UPDATE conversations SET head_message_id = ?, turns = ?, "
                "title = coalesce(title, ?), prompt_tokens = ?, completion_tokens = ?, "
                "cost = ? WHERE id = ?",
                (tip, len(asked), first_title, int(sums[0]), int(sums[1]), sums[2], cid),
            )
            return q.load_conversation(conn, cid)

        return self._db.write(txn)
