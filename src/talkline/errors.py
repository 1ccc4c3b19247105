"""Every error talkline raises, in one hierarchy.

```
TalklineError                      base of everything below; carries `hint` (what to do next)
├── ConfigError                    bad settings, config file, key file or flag values
│   ├── ParamError                 a request parameter out of range (also a ValueError)
│   └── MissingKeyError            OpenAI's API with no key configured; nothing was sent
├── BudgetExceededError            a request would exceed a spending limit; nothing was sent
├── StoreError                     the conversation database failed (talkline.store)
├── ConversationNotFound           no conversation has that id or prefix (talkline.store)
├── StreamInterrupted              a stream ended before it finished; `.partial` holds the text
├── APIConnectionError             the server could not be reached or the connection broke
│   └── APITimeoutError            connect, read, or idle-between-chunks timeout
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
    └── ServerError                >= 500, and HTML/plain bodies from proxies
```

Third-party exceptions (httpx) are mapped into this tree in one place,
`talkline.backends.remote`. Messages never contain an API key.
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
    "MissingKeyError",
    "NotFoundError",
    "ParamError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "StreamInterrupted",
    "TalklineError",
    "error_from_response",
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


_QUOTA_CODES = {"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached"}


def is_quota_error(code: str | None, type_: str | None, message: str) -> bool:
    """A 429 that retrying can never fix."""
    for value in (code, type_):
        if value and (value in _QUOTA_CODES or value.endswith("_spend_limit_exceeded")):
            return True
    return bool(re.search(r"request too large.*tokens per min", message, re.I | re.S))


def _html_title(text: str) -> str | None:
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    if m:
        return " ".join(m.group(1).split())
    m = re.search(r"<h1>(.*?)</h1>", text, re.I | re.S)
    return " ".join(m.group(1).split()) if m else None


def _redact(text: str) -> str:
    # Servers sometimes echo a prefix of the key ("Incorrect API key provided: sk-abc***").
    return re.sub(r"\b(sk-[A-Za-z0-9_\-]{0,3})[A-Za-z0-9_\-*]{4,}", r"\1***", text)


def _with_v1(base_url: str) -> str | None:
    """The base URL an OpenAI-compatible server most likely wants, when `base_url` does
    not end in /v1 (`http://host:11434` -> `http://host:11434/v1`); else None."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    path = parts.path.rstrip("/")
    if not parts.netloc or path.endswith("/v1"):
        return None
    cut = path.find("/v1/")  # a whole endpoint pasted as the base URL
    path = path[:cut + 3] if cut >= 0 else path + "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def error_from_response(
    status: int,
    body: bytes | str,
    *,
    headers: dict[str, str] | None = None,
    base_url: str = "",
    content_type: str = "",
    secrets: tuple[str, ...] = (),
    request: str = "",
) -> APIError:
    """Map an HTTP error answer (JSON, HTML or plain text) to the right class.

    `request` ("POST http://host/v1/chat/completions") names what got a 404."""
    import json

    headers = {k.lower(): v for k, v in (headers or {}).items()}
    request_id = headers.get("x-request-id")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    parsed: Any = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    err: dict[str, Any] = {}
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed)
        if isinstance(inner, dict):
            err = inner
        elif isinstance(inner, str):
            err = {"message": inner}
    if err:
        message = str(err.get("message") or f"HTTP {status}")
    elif "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = _html_title(text) or "an HTML error page"
        message = f"HTTP {status} from a proxy or gateway: {title}"
    else:
        snippet = " ".join(text.split())[:200]
        message = f"HTTP {status}: {snippet}" if snippet else f"HTTP {status} with an empty body"
    message = _redact(message)
    for secret in secrets:
        if secret and len(secret) >= 8:
            message = message.replace(secret, "***")
            text = text.replace(secret, "***")
            if parsed is not None:
                parsed = json.loads(json.dumps(parsed).replace(json.dumps(secret)[1:-1], "***"))
    code = err.get("code")
    code = str(code) if code is not None else None
    type_ = err.get("type")
    type_ = str(type_) if type_ is not None else None
    param = err.get("param")
    param = str(param) if param is not None else None
    kwargs: dict[str, Any] = dict(
        status=status,
        code=code,
        type=type_,
        param=param,
        request_id=request_id,
        body=parsed if parsed is not None else text,
        headers=headers,
    )
    where = f" for {base_url}" if base_url else ""
    cls: type[APIError]
    hint: str | None = None
    if status == 401:
        cls = AuthenticationError
        message = f"Invalid API key{where}: {message}"
        hint = "Set OPENAI_API_KEY or run: talkline keys set openai"
    elif status == 403:
        cls = PermissionDeniedError
        hint = "Check that this key's organisation and project may use this model."
    elif status == 404:
        cls = NotFoundError
        suggestion = _with_v1(base_url)
        if code == "model_not_found" or re.search(r"\bmodel\b", message, re.I):
            hint = "Run `talkline models` to see the models this server offers."
        elif suggestion:
            message = f"The server answered 404 Not Found for {request or base_url}."
            hint = f"The base URL does not end in /v1: try --base-url {suggestion}"
    elif status == 408:
        cls = RequestTimeoutError
    elif status == 409:
        cls = ConflictError
    elif status == 429:
        if is_quota_error(code, type_, message):
            cls = QuotaExceededError
            hint = "Waiting will not help: check your plan and billing details."
        else:
            cls = RateLimitError
    elif status in (400, 422) or 400 <= status < 500:
        if (code == "context_length_exceeded" or type_ == "exceed_context_size_error"
                or "maximum context length" in message
                or "exceeds the available context size" in message):
            cls = ContextLengthExceededError
            hint = "Shorten the conversation or lower max_tokens."
        else:
            cls = BadRequestError
    else:
        cls = ServerError
    return cls(message, hint=hint, **kwargs)


def error_from_event(error: dict[str, Any], *, request_id: str | None = None) -> APIError:
    """Map an `error` object received inside a stream, classified like the status it names."""
    import json

    status = 500
    code = str(error.get("code") or "")
    type_ = str(error.get("type") or "")
    raw_status = error.get("status") or error.get("status_code")
    if isinstance(raw_status, int):
        status = raw_status
    elif code == "rate_limit_exceeded" or type_ in ("rate_limit_error", "tokens", "requests"):
        status = 429
    elif is_quota_error(code, type_, str(error.get("message", ""))):
        status = 429
    elif code == "context_length_exceeded" or type_ in ("invalid_request_error",
                                                         "exceed_context_size_error"):
        status = 400
    headers = {"x-request-id": request_id} if request_id else None
    return error_from_response(status, json.dumps({"error": error}), headers=headers)
