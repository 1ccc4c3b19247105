"""An HTTP error answer, or an error event inside a stream, as talkline's error class.

JSON error objects, HTML pages from proxies and plain-text bodies are all read; the class
follows the status (and, for 429 and 400, the error's code and wording). Every text kept,
the message, the body and the headers, passes through the connection's `Redactor`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    is_quota_error,
)
from .redact import Redactor, redact_key_prefixes

__all__ = ["error_from_event", "error_from_response"]


def _html_title(text: str) -> str | None:
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    if m:
        return " ".join(m.group(1).split())
    m = re.search(r"<h1>(.*?)</h1>", text, re.I | re.S)
    return " ".join(m.group(1).split()) if m else None


def _with_v1(base_url: str) -> str | None:
    """The base URL an OpenAI-compatible server most likely wants, when `base_url` does
    not end in /v1 (`http://host:11434` -> `http://host:11434/v1`); else None."""
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


def _error_object(parsed: Any) -> dict[str, Any]:
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed)
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
    return {}


def _message(status: int, err: dict[str, Any], text: str, content_type: str) -> str:
    if err:
        return str(err.get("message") or f"HTTP {status}")
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = _html_title(text) or "an HTML error page"
        return f"HTTP {status} from a proxy or gateway: {title}"
    snippet = " ".join(text.split())[:200]
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status} with an empty body"


def _text_field(err: dict[str, Any], name: str, redact: Redactor) -> str | None:
    value = err.get(name)
    return redact.text(str(value)) if value is not None else None


def _classify(status: int, code: str | None, type_: str | None, message: str,
              base_url: str, request: str) -> tuple[type[APIError], str, str | None]:
    """(class, message, hint) for an error answer."""
    where = f" for {base_url}" if base_url else ""
    if status == 401:
        return (AuthenticationError, f"Invalid API key{where}: {message}",
                "Set OPENAI_API_KEY or run: talkline keys set openai")
    if status == 403:
        return (PermissionDeniedError, message,
                "Check that this key's organisation and project may use this model.")
    if status == 404:
        suggestion = _with_v1(base_url)
        if code == "model_not_found" or re.search(r"\bmodel\b", message, re.I):
            return (NotFoundError, message,
                    "Run `talkline models` to see the models this server offers.")
        if suggestion:
            return (NotFoundError, f"The server answered 404 Not Found for {request or base_url}.",
                    f"The base URL does not end in /v1: try --base-url {suggestion}")
        return NotFoundError, message, None
    if status == 408:
        return RequestTimeoutError, message, None
    if status == 409:
        return ConflictError, message, None
    if status == 429:
        if is_quota_error(code, type_, message):
            return (QuotaExceededError, message,
                    "Waiting will not help: check your plan and billing details.")
        return RateLimitError, message, None
    if 400 <= status < 500:
        if (code == "context_length_exceeded" or type_ == "exceed_context_size_error"
                or "maximum context length" in message
                or "exceeds the available context size" in message):
            return (ContextLengthExceededError, message,
                    "Shorten the conversation or lower max_tokens.")
        return BadRequestError, message, None
    return ServerError, message, None


def error_from_response(
    status: int,
    body: bytes | str,
    *,
    headers: dict[str, str] | None = None,
    base_url: str = "",
    content_type: str = "",
    secrets: tuple[str, ...] = (),
    request: str = "",
    redactor: Redactor | None = None,
) -> APIError:
    """Map an HTTP error answer (JSON, HTML or plain text) to the right class.

    `request` ("POST http://host/v1/chat/completions") names what got a 404. `secrets`
    (or a ready `redactor`) are removed from every text the error keeps."""
    redact = redactor or Redactor(secrets)
    headers = {k.lower(): redact.text(v) for k, v in (headers or {}).items()}
    request_id = headers.get("x-request-id")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    parsed: Any = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    err = _error_object(parsed)
    message = redact_key_prefixes(redact.text(_message(status, err, text, content_type)))
    code, type_ = _text_field(err, "code", redact), _text_field(err, "type", redact)
    cls, message, hint = _classify(status, code, type_, message, redact.text(base_url),
                                   redact.text(request))
    return cls(
        message, hint=hint, status=status, code=code, type=type_,
        param=_text_field(err, "param", redact), request_id=request_id,
        body=redact.value(parsed) if parsed is not None else redact.text(text),
        headers=headers,
    )


def error_from_event(error: dict[str, Any], *, request_id: str | None = None,
                     redactor: Redactor | None = None) -> APIError:
    """Map an `error` object received inside a stream, classified like the status it names."""
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
    return error_from_response(status, json.dumps({"error": error}), headers=headers,
                               redactor=redactor)
