"""Errors as OpenAI-shaped JSON: `{"error": {"message", "type", "param", "code"}}`, with
the right status and, when waiting helps, `retry-after` / `retry-after-ms` headers.

What the gateway says itself is a `GatewayError`; what talkline's client core raises (an
upstream's error, a broken connection, a refused budget) is mapped by `from_talkline`.
Messages come from talkline's errors, which the wire has already redacted: an upstream
key never appears in them, and neither does a traceback.
"""

from __future__ import annotations

import math

from starlette.responses import JSONResponse

from ..errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BudgetExceededError,
    ConfigError,
    DeadlineExceeded,
    PermissionDeniedError,
    RateLimitError,
    RetiredModelError,
    StreamInterrupted,
    TalklineError,
)
from ..retry import server_delay

__all__ = ["GatewayError", "error_body", "error_response", "from_talkline"]


class GatewayError(Exception):
    """A refusal of the gateway's own, answered as it says."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after


def error_body(message: str, type: str, code: str | None = None,
               param: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _wait_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None or seconds <= 0:
        return {}
    return {"retry-after": str(max(1, math.ceil(seconds))),
            "retry-after-ms": str(max(1, math.ceil(seconds * 1000)))}


def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error_body(error.message, error.type, error.code, error.param),
                        status_code=error.status, headers=_wait_headers(error.retry_after))


def _message(exc: TalklineError) -> str:
    return f"{exc.message} {exc.hint}" if exc.hint else exc.message


def from_talkline(exc: TalklineError, server: str) -> GatewayError:
    """What the client core raised, as the client of the gateway is told it. `server`
    names the upstream (its config name, or the base URL's host)."""
    if isinstance(exc, StreamInterrupted) and exc.cause is not None and isinstance(
            exc.cause, TalklineError):
        return from_talkline(exc.cause, server)
    if isinstance(exc, BudgetExceededError):
        # 429 insufficient_quota, as OpenAI answers a spent quota: SDKs and tools already
        # know not to retry it (402 has no meaning to them). No retry-after: waiting a few
        # seconds does not help, the next day or month does.
        return GatewayError(429, _message(exc), type="insufficient_quota",
                            code="budget_exceeded")
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        # The gateway's own key for that upstream was refused: not the client's fault, and
        # a 401 would make the client doubt its gateway key.
        return GatewayError(
            502, f"the upstream server {server} refused the gateway's key ({exc.message}). "
            "The gateway's owner should check that server's key (key_env or key_name in "
            "[servers.NAME], or OPENAI_API_KEY).", type="upstream_error",
            code="upstream_auth_failed")
    if isinstance(exc, RateLimitError):
        delay = server_delay(exc.headers, exc.message)
        return GatewayError(429, exc.message, type=exc.type or "rate_limit_exceeded",
                            code=exc.code or "rate_limit_exceeded", retry_after=delay or 1.0)
    if isinstance(exc, APIError) and exc.status and 400 <= exc.status < 600:
        return GatewayError(exc.status, exc.message,
                            type=exc.type or ("server_error" if exc.status >= 500
                                              else "invalid_request_error"),
                            code=exc.code, param=exc.param)
    if isinstance(exc, DeadlineExceeded):
        return GatewayError(504, _message(exc), type="timeout", code="deadline_exceeded")
    if isinstance(exc, APIConnectionError):
        return GatewayError(502, f"the gateway could not reach the upstream server {server}: "
                            f"{exc.message}", type="upstream_error", code="upstream_unreachable")
    if isinstance(exc, StreamInterrupted):
        return GatewayError(502, exc.message, type="upstream_error", code="stream_interrupted")
    if isinstance(exc, RetiredModelError):
        # As OpenAI answers a model that is gone: 404 model_not_found (SDKs know it), with
        # the date and the successor in the message.
        return GatewayError(404, _message(exc), code="model_not_found", param="model")
    if isinstance(exc, ConfigError):
        return GatewayError(400, _message(exc))
    return GatewayError(500, _message(exc), type="server_error")
