"""The batches endpoint: create, retrieve, cancel and list batches (one attempt each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .connection import Connection
from .parse import batch_page, parse_batch_object

__all__ = ["cancel", "create", "list_batches", "retrieve"]


def create(conn: Connection, input_file_id: str, *, endpoint: str = "/v1/chat/completions",
           metadata: Mapping[str, str] | None = None, idempotency_key: str | None = None,
           completion_window: str = "24h") -> dict[str, Any]:
    """`POST /batches`: the Batch object (status `validating`)."""
    body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": endpoint,
                            "completion_window": completion_window}
    if metadata:
        body["metadata"] = dict(metadata)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return parse_batch_object(conn.json_value(conn.send("POST", "batches", json=body,
                                                        headers=headers)))


def retrieve(conn: Connection, batch_id: str) -> dict[str, Any]:
    return parse_batch_object(conn.json_value(conn.send("GET", f"batches/{batch_id}")))


def cancel(conn: Connection, batch_id: str) -> dict[str, Any]:
    return parse_batch_object(conn.json_value(conn.send("POST", f"batches/{batch_id}/cancel")))


def list_batches(conn: Connection, *, limit: int = 20, after: str | None = None
                 ) -> list[dict[str, Any]]:
    """One page of batches, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if after:
        params["after"] = after
    return batch_page(conn.json_value(conn.send("GET", "batches", params=params)))
