"""Attachments' bytes in the store: kept once by SHA-256, expanded again when sent.

A message's `parts` holds stored parts (`talkline.attachments.parts`), never base64; the
bytes live in `blobs`. The same file sent twice is one row.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..attachments import Blob, expand_part, is_stored
from ..types import Message
from ._database import Database
from ._errors import StoreError
from ._models import StoredMessage

__all__ = ["BlobsMixin", "insert_blobs"]


def insert_blobs(conn: sqlite3.Connection, blobs: Iterable[Blob]) -> None:
    """Keep each blob unless a row with its hash is there already (inside a write)."""
    now = time.time()
    conn.executemany(
        "INSERT OR IGNORE INTO blobs (sha256, mime, size, bytes, created) "
        "VALUES (?, ?, ?, ?, ?)",
        [(b.sha256, b.mime, len(b.data), b.data, now) for b in blobs],
    )


def _refs(parts: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(p["blob"]) for p in parts if is_stored(p)]


class BlobsMixin:
    """Part of ConversationStore."""

    _db: Database

    def blobs(self, hashes: Iterable[str]) -> dict[str, Blob]:
        """The blobs with these SHA-256s that the store holds."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}

        def query(conn: sqlite3.Connection) -> dict[str, Blob]:
            out: dict[str, Blob] = {}
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                rows = conn.execute(
                    "SELECT sha256, mime, bytes FROM blobs WHERE sha256 IN "
                    f"({', '.join('?' * len(chunk))})", chunk).fetchall()
                out.update({r[0]: Blob(r[0], r[1], bytes(r[2])) for r in rows})
            return out

        return self._db.read(query)

    def blob_count(self) -> int:
        return int(self._db.read(lambda c: c.execute("SELECT count(*) FROM blobs").fetchone()[0]))

    def expand(self, message: StoredMessage) -> Message:
        """The message to send: stored parts back to their wire form, bytes re-read."""
        plain = message.to_message()
        parts = message.parts
        if not parts or not _refs(parts):
            return plain
        found = self.blobs(_refs(parts))
        content: list[dict[str, Any]] = []
        for part in parts:
            if not is_stored(part):
                content.append(dict(part))
                continue
            blob = found.get(str(part["blob"]))
            if blob is None:
                raise StoreError(
                    f"The attachment {part.get('name') or part['blob']} of message "
                    f"{message.id} is missing from the store (blob {part['blob'][:12]}…).",
                    hint="Import the conversation again from an export that holds it, or "
                         "start a new conversation.")
            content.append(expand_part(part, blob.data))
        return Message(plain.role, content, name=plain.name, tool_calls=plain.tool_calls,
                       tool_call_id=plain.tool_call_id)
