"""The one token estimate, for a text whose tokenizer is not known (pure, no imports).

One token per `BYTES_PER_TOKEN` (4) bytes of UTF-8: 4 characters of English, closer than
4 characters for most other scripts. A chat prompt adds `PER_MESSAGE` (4) a message and
`PER_REPLY` (3) for the reply's priming, as the OpenAI chat format does. Where a count
must not come out low (a worst-case cost before a request), pass
`bytes_per_token=HIGH_BYTES_PER_TOKEN` (3): a token is rarely shorter than 3 bytes.

The rate limiter, the token counter's uncalibrated estimate (`planning.tokens`, which
then learns a correction from the server's usage) and the batch runner's worst case all
count with these functions, so the numbers they show agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "BYTES_PER_TOKEN",
    "HIGH_BYTES_PER_TOKEN",
    "PER_MESSAGE",
    "PER_REPLY",
    "estimate_prompt",
    "estimate_text",
    "text_units",
]

BYTES_PER_TOKEN = 4.0
HIGH_BYTES_PER_TOKEN = 3.0
PER_MESSAGE = 4
PER_REPLY = 3


def text_units(text: str, bytes_per_token: float = BYTES_PER_TOKEN) -> float:
    """The estimate before rounding: UTF-8 bytes over `bytes_per_token`."""
    return len(text.encode("utf-8", "surrogatepass")) / bytes_per_token


def estimate_text(text: str, bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    """The tokens of a text, rounded up (an empty text is 0)."""
    return math.ceil(text_units(text, bytes_per_token))


def estimate_prompt(texts: Iterable[str], bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    """The tokens of a chat prompt, given each message's text."""
    return PER_REPLY + sum(PER_MESSAGE + estimate_text(t, bytes_per_token) for t in texts)
