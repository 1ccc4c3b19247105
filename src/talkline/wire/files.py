"""The files endpoint: `POST /files` (multipart, streamed from disk) and
`GET /files/{id}/content` (streamed to a file)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from .connection import Connection
from .parse import parse_batch_object

__all__ = ["download", "upload"]

CHUNK = 1 << 16


def upload(conn: Connection, path: Path, *, filename: str | None = None,
           purpose: str = "batch") -> dict[str, Any]:
    """The File object of `path` uploaded; the file is read as it is sent."""
    with open(path, "rb") as fh:
        files = {"file": (filename or path.name, fh, "application/jsonl")}
        return parse_batch_object(conn.json_value(conn.send(
            "POST", "files", data={"purpose": purpose}, files=files)), "file")


def download(conn: Connection, file_id: str, dest: IO[bytes]) -> int:
    """A file's content written to `dest` as it arrives; the byte count."""
    written = 0
    with conn.open("GET", f"files/{file_id}/content", stream=True) as response:
        for chunk in conn.iter_bytes(response, CHUNK):
            dest.write(chunk)
            written += len(chunk)
    return written
