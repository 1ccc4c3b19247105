"""The store's errors: every sqlite3 exception is mapped to one of these in `_database`.

```
TalklineError
├── StoreError              the database cannot be opened, read or written (damaged, busy, ...)
├── ConversationNotFound    no conversation has that id, or a prefix matches several (exit 2)
└── MessageNotFound         no message has that id in that conversation (exit 2)
```
"""

from __future__ import annotations

from ..errors import TalklineError

__all__ = ["ConversationNotFound", "MessageNotFound", "StoreError"]


class StoreError(TalklineError):
    """The conversation database cannot be opened, read or written."""


class ConversationNotFound(TalklineError, LookupError):
    """No conversation has that id (or the prefix given matches several)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(
            message, hint=hint or "Run `talkline history list` to see conversation ids."
        )


class MessageNotFound(TalklineError, LookupError):
    """No message has that id, or it belongs to another conversation."""

    exit_code = 2
