"""Result lines in the Batch API's output shape, and what each request costs.

A result line is `{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error"}`. talkline fills `error` (`{"code", "message"}`) for every line that failed,
HTTP errors included (the Batch API leaves it null for those and puts them in its error
file), so `error is None` is the one test for "answered".

Costs come from `talkline.usage` when it is importable; without it (or for a model with
no known price) no cost is shown, and nothing else changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    StreamInterrupted,
    TalklineError,
)
from ..estimate import HIGH_BYTES_PER_TOKEN, estimate_prompt
from ..types import ChatResponse, Usage

__all__ = ["error_code", "error_record", "line_cost", "success_record", "worst_case"]


def _line_id() -> str:
    return "batch_req_" + uuid.uuid4().hex[:24]


def success_record(custom_id: str, response: ChatResponse) -> dict[str, Any]:
    return {
        "id": _line_id(),
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": response.request_id,
            "body": response.to_dict(),
        },
        "error": None,
    }


def error_code(exc: BaseException) -> str:
    """A short machine-readable code for a failure that has none from the server."""
    if isinstance(exc, APIError) and exc.code:
        return exc.code
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection_error"
    if isinstance(exc, StreamInterrupted):
        return "response_interrupted"
    if isinstance(exc, APIError):
        return exc.type or f"http_{exc.status}"
    return type(exc).__name__


def error_record(custom_id: str, exc: BaseException) -> dict[str, Any]:
    message = exc.message if isinstance(exc, TalklineError) else str(exc) or type(exc).__name__
    if isinstance(exc, TalklineError) and exc.attempts > 1:
        message += f" (after {exc.attempts} attempts)"
    response: dict[str, Any] | None = None
    if isinstance(exc, APIError) and exc.status is not None:
        body = exc.body if isinstance(exc.body, dict) else {
            "error": {"message": exc.message, "type": exc.type, "param": exc.param,
                      "code": exc.code}
        }
        response = {"status_code": exc.status, "request_id": exc.request_id, "body": body}
    return {
        "id": _line_id(),
        "custom_id": custom_id,
        "response": response,
        "error": {"code": error_code(exc), "message": message},
    }


def line_cost(model: str, usage: Usage | None, *, batch: bool = False,
              catalog: Any = None) -> tuple[float | None, bool]:
    """(USD, estimated) of one answer; (None, False) when no price is known."""
    if usage is None or not model:
        return None, False
    try:
        from ..planning.costs import cost_of as cost_of
    except ImportError:  # pragma: no cover - the usage module is optional here
        return None, False
    if catalog is not None:
        cost = cost_of(model, usage, batch=batch, catalog=catalog)
    else:
        cost = cost_of(model, usage, batch=batch)
    if cost is None:
        return None, False
    return cost.amount, cost.estimated


def _prompt_tokens(messages: Any) -> int:
    # Cheap and on the high side: a token is rarely shorter than 3 bytes of UTF-8.
    texts = []
    for m in messages if isinstance(messages, list) else ():
        content = m.get("content") if isinstance(m, Mapping) else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        texts.append(str(content or ""))
    return estimate_prompt(texts, HIGH_BYTES_PER_TOKEN)


def worst_case(body: Mapping[str, Any], *, batch: bool = False, catalog: Any = None
               ) -> float | None:
    """The most one request can cost (USD), or None when no price is known."""
    try:
        from ..planning.costs import worst_case_cost as worst_case_cost
    except ImportError:  # pragma: no cover
        return None
    model = str(body.get("model") or "")
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    n = body.get("n") if isinstance(body.get("n"), int) else 1
    kwargs: dict[str, Any] = {}  # only what is needed: the documented contract has neither
    if batch:
        kwargs["batch"] = True
    if catalog is not None:
        kwargs["catalog"] = catalog
    return worst_case_cost(model, _prompt_tokens(body.get("messages")),
                           limit if isinstance(limit, int) else None, n or 1, **kwargs)
