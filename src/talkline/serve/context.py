"""Context fitting, off unless the client asks: a gateway passes messages as they are.

A client that wants talkline's fitting sends the header `x-talkline-context: truncate`
(the oldest turns dropped until the rest fits the model's window, the system prompt and
the newest turn kept; `talkline.planning.context`) or `error` (refused with the OpenAI
`context_length_exceeded` 400 before anything is sent when it does not fit).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ContextLengthExceededError
from ..planning.catalog import lookup
from ..planning.context import fit_to_context
from ..types import Message
from .errors import GatewayError

__all__ = ["HEADER", "fit"]

HEADER = "x-talkline-context"
STRATEGIES = ("truncate", "error")


def fit(messages: tuple[Message, ...], model: str, max_tokens: int | None,
        headers: Mapping[str, str]) -> tuple[Message, ...]:
    """The messages to send: as they are, or fitted as the client's header asks."""
    asked = headers.get(HEADER, "").strip().lower()
    if not asked or asked == "off":
        return messages
    if asked not in STRATEGIES:
        raise GatewayError(400, f"{HEADER} must be one of off, {', '.join(STRATEGIES)}; "
                           f"got {asked!r}", param=HEADER)
    info = lookup(model)
    if info is None or not info.context_window:
        raise GatewayError(400, f"{HEADER}: the gateway does not know the context window of "
                           f"{model!r}. Leave the header out, or add context_window to "
                           f"[catalog.{model}] in the gateway's config.toml.", param=HEADER)
    try:
        result = fit_to_context(messages, model=model, context_window=int(info.context_window),
                                max_output=max_tokens or info.max_output,
                                user_set_max_tokens=max_tokens is not None, strategy=asked)
    except ContextLengthExceededError as exc:
        raise GatewayError(400, exc.message, code="context_length_exceeded",
                           param="messages") from None
    return tuple(result.messages)
