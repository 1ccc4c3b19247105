"""What a run has spent, and `--budget`: never start a request that could break it.

Each request reserves its worst case (`talkline.usage.worst_case_cost`) until it
answers, then the real cost (from `usage`) replaces it. Requests in flight usually cost
far less than their worst case, so a request that only fits once they are done waits
for them; the run stops only when the money already spent leaves no room for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from ..types import ChatResponse
from ._records import line_cost, worst_case

__all__ = ["Spending"]

_SLACK = 1e-12  # float noise must not refuse a request that fits exactly


class Spending:
    """Costs of one run (USD) and its optional budget. Lives on the event loop."""

    def __init__(self, budget: float | None = None, *, catalog: Any = None) -> None:
        self.budget = budget
        self.catalog = catalog
        self.spent = 0.0
        self.priced = False  # at least one answer had a known price
        self.estimated = False
        self.unpriced: set[str] = set()
        self._reserved = 0.0
        self._released = asyncio.Event()

    @property
    def total(self) -> float | None:
        """What was spent, or None while no answer had a known price."""
        return self.spent if self.priced else None

    async def reserve(self, body: Mapping[str, Any], stopped: Callable[[], bool]
                      ) -> float | None:
        """Reserve a request's worst case, waiting for requests in flight if that helps.

        Returns the amount reserved (pass it to `release`), or None when there is no
        budget or no price. Raises `LookupError` when the request can never fit (or the
        run is stopping): it must not be sent.
        """
        if self.budget is None:
            return None
        worst = worst_case(body, catalog=self.catalog)
        if worst is None:
            self.unpriced.add(str(body.get("model")))
            return None
        limit = self.budget + _SLACK
        while self.spent + self._reserved + worst > limit:
            if stopped() or self.spent + worst > limit or self._reserved <= 0:
                raise LookupError("over budget")
            self._released.clear()
            await self._released.wait()
        self._reserved += worst
        return worst

    def release(self, reserved: float | None) -> None:
        """A request is done (its cost already `record`ed): free its reservation."""
        if reserved is not None:
            self._reserved -= reserved
            self._released.set()

    def record(self, body: Mapping[str, Any], response: ChatResponse, *, batch: bool = False
               ) -> tuple[float | None, bool]:
        """Add an answer's real cost; (USD or None, estimated)."""
        requested = str(body.get("model") or "")
        cost, estimated = line_cost(response.model or requested, response.usage,
                                    batch=batch, catalog=self.catalog)
        if cost is None and response.model != requested:
            cost, estimated = line_cost(requested, response.usage, batch=batch,
                                        catalog=self.catalog)
        if cost is None:
            if response.usage is not None:
                self.unpriced.add(requested)
            return None, False
        self.spent += cost
        self.priced = True
        self.estimated = self.estimated or estimated
        return cost, estimated
