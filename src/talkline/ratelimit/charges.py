"""What a request is charged against the limits, and which limit a 429 names."""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["DEFAULT_MAX_TOKENS_ESTIMATE", "LimitKind", "estimate_tokens", "limit_kind"]

LimitKind = Literal["requests", "tokens"]

DEFAULT_MAX_TOKENS_ESTIMATE = 4096
"""Completion tokens assumed when a request sets no max_tokens.

The server then charges its own large default up front (often the model's whole output
limit). 4096 is a compromise: big enough that a burst of such requests does not overrun
the TPM limit, small enough not to serialise everything. Pass the model's real output
limit as `default_max` when it is known.
"""


def estimate_tokens(
    prompt_tokens: int,
    n: int = 1,
    max_tokens: int | None = None,
    default_max: int = DEFAULT_MAX_TOKENS_ESTIMATE,
) -> int:
    """What the server charges against TPM up front: prompt + n * max completion tokens."""
    completion = max_tokens if max_tokens is not None and max_tokens >= 0 else default_max
    return max(0, int(prompt_tokens)) + max(1, int(n)) * max(0, int(completion))


def limit_kind(error: BaseException) -> LimitKind | None:
    """Which limit a 429 names, for `RateLimiter.pause`: "requests", "tokens" or None.

    OpenAI puts it in the error's `type` (`requests` / `tokens`) and in the message
    ("... on tokens per min (TPM) ..."). None means unknown: pause both.
    """
    type_ = getattr(error, "type", None)
    if type_ in ("requests", "tokens"):
        return "tokens" if type_ == "tokens" else "requests"
    message = str(getattr(error, "message", "") or "").lower()
    if re.search(r"tokens per (?:min|day)|\b(?:tpm|tpd)\b", message):
        return "tokens"
    if re.search(r"requests per (?:min|day)|\b(?:rpm|rpd)\b", message):
        return "requests"
    return None
