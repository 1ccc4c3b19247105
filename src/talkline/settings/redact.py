"""How a key is shown: `sk-...abcd`, enough to tell keys apart, never enough to use one."""

from __future__ import annotations

__all__ = ["redact"]


def redact(key: str | None) -> str:
    """`sk-...abcd`: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    if len(key) <= 12:
        return "***"
    prefix = key[:3] if key.startswith("sk-") else ""
    return f"{prefix}...{key[-4:]}"
