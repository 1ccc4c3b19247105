"""What the scripted server records of each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    time: float
    client: tuple[str, int] = ("", 0)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]
