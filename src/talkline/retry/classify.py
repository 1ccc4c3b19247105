"""Which failures could succeed if sent again (ignoring retry counts), and why."""

from __future__ import annotations

from ..errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    DeadlineExceeded,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLarge,
    ServerError,
    StreamInterrupted,
    TalklineError,
    is_quota_error,
)

__all__ = ["describe", "effective", "is_retryable"]


def describe(error: BaseException) -> str:
    """`ServerError (HTTP 502)`: the error's class, and its status when it has one."""
    name = type(error).__name__
    status = getattr(error, "status", None)
    return f"{name} (HTTP {status})" if isinstance(status, int) else name


def effective(error: BaseException) -> BaseException:
    """A broken stream is classified by its cause when the cause is an API error."""
    if isinstance(error, StreamInterrupted) and isinstance(error.cause, (APIError,
                                                                          DeadlineExceeded)):
        return error.cause
    return error


def _header(error: APIError, name: str) -> str | None:
    for key, value in error.headers.items():
        if key.lower() == name:
            return str(value)
    return None


def is_retryable(error: BaseException) -> tuple[bool, str]:
    """Whether sending again could succeed, ignoring retry counts; with the reason why."""
    err = effective(error)
    if not isinstance(err, TalklineError):
        return False, f"{type(err).__name__} is not a talkline error: not retried"
    if isinstance(err, (DeadlineExceeded, ResponseTooLarge)):
        return False, f"{describe(err)}: a limit of this request, sending again will not help"
    if isinstance(err, QuotaExceededError):
        return False, f"{describe(err)}: a quota or billing limit, waiting will not help"
    if isinstance(err, APIError):
        should = (_header(err, "x-should-retry") or "").strip().lower()
        if should == "true":
            return True, f"{describe(err)}: the server says x-should-retry: true"
        if should == "false":
            return False, f"{describe(err)}: the server says x-should-retry: false"
    retryable_classes = (
        APIConnectionError,
        RequestTimeoutError,
        ConflictError,
        RateLimitError,
        ServerError,
        StreamInterrupted,
    )
    if isinstance(err, retryable_classes):
        return True, f"{describe(err)} is retryable"
    if type(err) is APIError and err.status is not None:
        # A bare APIError (not mapped to a subclass): fall back on its status.
        if err.status == 429 and is_quota_error(err.code, err.type, err.message):
            return False, f"{describe(err)}: a quota or billing limit, waiting will not help"
        if err.status in (408, 409, 429) or err.status >= 500:
            return True, f"{describe(err)} is retryable"
    return False, f"{describe(err)} is not retryable"
