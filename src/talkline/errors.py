"""Every error talkline raises, in one hierarchy.

```
TalklineError                      base of everything below; carries `hint` (what to do next)
├── ConfigError                    bad settings, config file, key file or flag values
│   ├── ParamError                 a request parameter out of range (also a ValueError)
│   └── SchemaError                a --schema / schema= that cannot be read (the column named)
│   └── MissingKeyError            OpenAI's API with no key configured; nothing was sent
│   └── RetiredModelError          a model shut down by OpenAI, asked of OpenAI; nothing sent
├── BudgetExceededError            a request would exceed a spending limit; nothing was sent
├── SchemaValidationError          a reply that does not match the schema asked for, after the
│                                  retry; `.path` names where, `.response` keeps the reply
├── StoreError                     the conversation database failed (talkline.store)
├── ConversationNotFound           no conversation has that id or prefix (talkline.store)
├── StreamInterrupted              a stream ended before it finished; `.partial` holds the text
├── APIConnectionError             the server could not be reached or the connection broke
│   └── APITimeoutError            connect, read, or idle-between-chunks timeout
│       └── DeadlineExceeded       the request's overall deadline passed: never retried
└── APIError                       the server answered with an error
    ├── BadRequestError            400, 422
    │   └── ContextLengthExceededError   the prompt does not fit the model's window
    │       └── PromptTooLongError          found before sending (talkline.context)
    ├── AuthenticationError        401
    ├── PermissionDeniedError      403
    ├── NotFoundError              404 (an unknown model included)
    ├── ConflictError              409
    ├── RequestTimeoutError        408
    ├── RateLimitError             429 that waiting can fix
    ├── QuotaExceededError         429 that waiting cannot fix (quota, billing, spend limit,
    │                              "Request too large"): never retried
    ├── ResponseFormatError        an answer of the wrong shape (a field of the wrong type,
    │                              no choices, a redirect, a non-SSE stream): not retried
    └── ServerError                >= 500, and HTML/plain bodies from proxies
        └── ResponseTooLarge       a body or stream event over its size limit: never retried
```

HTTP answers and httpx's exceptions are mapped into this tree in one place, the wire
(`talkline.wire.status_errors`, `talkline.wire.transport_errors`), which also keeps the
configured API key out of every message.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigError",
    "ConflictError",
    "ContextLengthExceededError",
    "DeadlineExceeded",
    "MissingKeyError",
    "NotFoundError",
    "ParamError",
    "RetiredModelError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLarge",
    "ResponseFormatError",
    "SchemaError",
    "SchemaValidationError",
    "ServerError",
    "StreamInterrupted",
    "TalklineError",
    "is_quota_error",
]


class TalklineError(Exception):
    """Base class. `hint` is a sentence telling the user what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.attempts = 1

    def __str__(self) -> str:
        text = self.message
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        if self.hint:
            text += f"\n{self.hint}"
        return text


class ConfigError(TalklineError):
    """Settings, config file, key store or command-line values are wrong."""

    exit_code = 2


class ParamError(ConfigError, ValueError):
    """A request parameter is out of its accepted range."""


class MissingKeyError(ConfigError):
    """A request to OpenAI's API with no key: refused before anything is sent."""


class RetiredModelError(ConfigError):
    """A request for a model its provider has shut down, to that provider's API (the
    catalog's `retired` date): refused before anything is sent."""


class SchemaError(ConfigError):
    """A schema that cannot be used: short syntax that does not parse (the message names
    the column), JSON that is not a schema, a file that cannot be read."""


class SchemaValidationError(TalklineError):
    """The reply does not match the schema it was asked for (bad JSON, a value of the wrong
    type, cut by the token limit), after one retry. `path` is where (`$.items[2].price`),
    `response` the last reply, which was paid for."""

    def __init__(self, message: str, *, path: str = "$", response: Any = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.response = response


class BudgetExceededError(TalklineError):
    """The request's worst-case cost is more than what is left of a budget."""


class StreamInterrupted(TalklineError):
    """A stream ended without a finish reason and without `[DONE]`.

    `partial` is the text of the first choice received so far, `partials` every choice's.
    `cause` is the underlying error when the stream broke on one.
    """

    def __init__(
        self,
        message: str,
        *,
        partial: str = "",
        partials: dict[int, str] | None = None,
        cause: BaseException | None = None,
        completion_tokens: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial
        self.partials = partials or ({0: partial} if partial else {})
        self.cause = cause
        self.completion_tokens = completion_tokens


class APIConnectionError(TalklineError):
    """The server could not be reached, or the connection broke. `connect` is true when
    no connection was made at all (DNS, refused, unreachable, reset before any byte);
    `reason` says why in a few words ("connection refused")."""

    def __init__(self, message: str, *, url: str = "", hint: str | None = None,
                 connect: bool = False, reason: str = "") -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.connect = connect
        self.reason = reason


class APITimeoutError(APIConnectionError):
    """A connect, read, or idle (between stream chunks) timeout."""


class DeadlineExceeded(APITimeoutError):
    """The request's overall deadline (`deadline`, `--deadline`) passed, across all its
    attempts: never retried, never a fallback."""


class APIError(TalklineError):
    """The server answered with an error status or an error event."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id
        self.body = body
        self.headers = headers or {}

    def __str__(self) -> str:
        text = super().__str__()
        if self.request_id:
            text += f"\n(request id: {self.request_id})"
        return text


class BadRequestError(APIError):
    """400 or 422: the request itself is wrong; sending it again cannot help."""


class ContextLengthExceededError(BadRequestError):
    """The prompt plus the requested output does not fit the model's context window.

    `limit` and `requested` are parsed from the server's message when it gives them.
    """

    @property
    def limit(self) -> int | None:
        m = re.search(r"maximum context length is (\d+)", self.message) or re.search(
            r"available context size \((\d+) tokens\)", self.message)  # llama.cpp
        return int(m.group(1)) if m else None

    @property
    def requested(self) -> int | None:
        m = re.search(r"(?:resulted in|requested) (\d+) tokens", self.message) or re.search(
            r"request \((\d+) tokens\) exceeds", self.message)  # llama.cpp
        return int(m.group(1)) if m else None


class AuthenticationError(APIError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key may not use this resource (organisation, project, region)."""


class NotFoundError(APIError):
    """404: an unknown path or model."""


class ConflictError(APIError):
    """409."""


class RequestTimeoutError(APIError):
    """408."""


class RateLimitError(APIError):
    """429 that goes away by waiting."""


class QuotaExceededError(APIError):
    """429 that waiting cannot fix: quota, billing, spend limits, a request too large."""


class ServerError(APIError):
    """>= 500, or a non-JSON error page from a proxy."""


class ResponseFormatError(APIError):
    """The server answered, but not with what was asked: a field of the wrong type or out
    of range (the message names its path), no choices, a redirect, or a body that is not
    an event stream for a streamed request. Not retried: the same server would answer the
    same way, and the request may already have been paid for."""


_QUOTA_CODES = {"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached"}


def is_quota_error(code: str | None, type_: str | None, message: str) -> bool:
    """A 429 that retrying can never fix."""
    for value in (code, type_):
        if value and (value in _QUOTA_CODES or value.endswith("_spend_limit_exceeded")):
            return True
    return bool(re.search(r"request too large.*tokens per min", message, re.I | re.S))


class ResponseTooLarge(ServerError):
    """A response body or one stream event over its size limit (`max_body_bytes`,
    `max_event_bytes`): refused before the memory was spent, never retried."""
