"""The models endpoint: `GET /models`, the models a server offers."""

from __future__ import annotations

from typing import Any

from .connection import AsyncConnection, Connection
from .parse import parse_models

__all__ = ["alist_models", "amodel_ids", "list_models", "model_ids"]

PATH = "models"


def _items(data: Any) -> list[dict[str, Any]]:
    return parse_models(data)  # `{"data": [...]}`, or a bare list as some servers send


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted(str(m["id"]) for m in items if m.get("id"))


def list_models(conn: Connection) -> list[dict[str, Any]]:
    """The model objects (`id`, `owned_by`, and what else the server sends, e.g.
    llama.cpp's `meta`)."""
    return _items(conn.json_value(conn.send("GET", PATH)))


def model_ids(conn: Connection) -> list[str]:
    """The model ids, sorted."""
    return _ids(list_models(conn))


async def alist_models(conn: AsyncConnection) -> list[dict[str, Any]]:
    return _items(conn.json_value(await conn.send("GET", PATH)))


async def amodel_ids(conn: AsyncConnection) -> list[str]:
    return _ids(await alist_models(conn))
