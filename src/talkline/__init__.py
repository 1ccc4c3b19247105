"""talkline: the ChatGPT API and every server that speaks its dialect, done right.

```python
from talkline import Client
with Client() as client:
    print(client.complete("What is the capital of France?").content)
```

Names are loaded on first use, so `import talkline` (and the command line's start-up)
stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "Client": "client",
    "AsyncClient": "client",
    "Settings": "settings",
    "Message": "types",
    "ChatParams": "types",
    "ChatResponse": "types",
    "ChatDelta": "types",
    "Choice": "types",
    "Usage": "types",
    "ToolCall": "types",
    "Tool": "tools",
    "ToolResult": "tools",
    "RetryPolicy": "retry",
    "Structured": "schema",
    "RateLimiter": "ratelimit",
    "Attachment": "attachments",
    "AttachmentError": "attachments",
    "load_attachment": "attachments",
}
_ERRORS = (
    "TalklineError",
    "ConfigError",
    "ParamError",
    "BudgetExceededError",
    "StreamInterrupted",
    "APIConnectionError",
    "APITimeoutError",
    "APIError",
    "BadRequestError",
    "ContextLengthExceededError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RequestTimeoutError",
    "RateLimitError",
    "QuotaExceededError",
    "ServerError",
    "SchemaError",
    "SchemaValidationError",
)
_EXPORTS.update({name: "errors" for name in _ERRORS})

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from .attachments import Attachment, AttachmentError, load_attachment
    from .client import AsyncClient, Client
    from .errors import *  # noqa: F403
    from .ratelimit import RateLimiter
    from .retry import RetryPolicy
    from .schema import Structured
    from .settings import Settings as Settings
    from .tools import Tool, ToolResult
    from .types import ChatDelta, ChatParams, ChatResponse, Choice, Message, ToolCall, Usage


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'talkline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
