"""Token estimates for a model whose tokenizer is not known, calibrated by usage.

The estimate itself is talkline's one (`talkline.estimate`: a token per 4 bytes of UTF-8,
4 a message, 3 for the reply); an `Estimator` learns a correction ratio from the
`usage.prompt_tokens` the server reports.
"""

from __future__ import annotations

import math

from ..estimate import BYTES_PER_TOKEN, PER_MESSAGE, text_units
from ..types import Message

__all__ = ["Estimator", "flat_text"]


class Estimator:
    """Token estimates for a model whose tokenizer is not known, calibrated by usage.

    Starts at one token per `bytes_per_token` bytes of UTF-8. Each `observe(estimated,
    actual)` moves the correction ratio towards `actual / estimated` (fully on the first
    observation, half-way after that), so a conversation's estimates converge on what the
    server reports in `usage.prompt_tokens`.
    """

    MIN_RATIO = 0.1
    MAX_RATIO = 10.0

    def __init__(self, bytes_per_token: float = BYTES_PER_TOKEN,
                 per_message: int = PER_MESSAGE) -> None:
        self.bytes_per_token = bytes_per_token
        self.per_message = per_message
        self.ratio = 1.0
        self.observations = 0

    def raw(self, text: str) -> float:
        """Uncalibrated token units of a text."""
        return text_units(text, self.bytes_per_token)

    def scale(self, raw: float) -> int:
        """Calibrated tokens for a number of raw units (0 stays 0, else at least 1)."""
        if raw <= 0:
            return 0
        return max(1, round(raw * self.ratio))

    def estimate(self, text: str) -> int:
        return self.scale(math.ceil(self.raw(text)))

    def observe(self, estimated: int, actual: int) -> None:
        """Learn from a prompt this estimator counted `estimated` that the server counted
        `actual` (its `usage.prompt_tokens`)."""
        if estimated <= 0 or actual <= 0:
            return
        weight = 1.0 if self.observations == 0 else 0.5
        ratio = self.ratio * (actual / estimated) ** weight
        self.ratio = min(self.MAX_RATIO, max(self.MIN_RATIO, ratio))
        self.observations += 1


def flat_text(m: Message) -> str:
    """What of a message an estimate or a server's tokenizer counts."""
    parts = [m.role, m.name or "", m.text]
    for call in m.tool_calls:
        parts += [call.name, call.arguments]
    return "\n".join(p for p in parts if p)
