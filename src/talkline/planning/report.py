"""Usage reports: tokens and cost by day, model and conversation (pure)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ConfigError
from ..settings import LOCAL_MODEL

__all__ = ["UsageReport", "Totals", "build_report", "parse_when"]


class _Row(Protocol):
    @property
    def created(self) -> float: ...
    @property
    def conversation_id(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cost(self) -> float | None: ...
    @property
    def cost_estimated(self) -> bool: ...
    @property
    def requested_model(self) -> str | None: ...


@dataclass
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    estimated: bool = False  # some of the cost is an estimate
    unpriced: int = 0  # replies with no known price
    free: int = 0  # replies by the embedded (local) model, which costs nothing

    def add(self, row: _Row, free: bool = False) -> None:
        self.requests += 1
        self.prompt_tokens += row.prompt_tokens or 0
        self.completion_tokens += row.completion_tokens or 0
        if free:
            self.free += 1
        elif row.cost is None:
            self.unpriced += 1
        else:
            self.cost += row.cost
            self.estimated = self.estimated or bool(row.cost_estimated)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": round(self.cost, 6),
                "cost_estimated": self.estimated, "unpriced": self.unpriced,
                "free": self.free}

    @property
    def all_free(self) -> bool:
        return self.requests > 0 and self.free == self.requests


@dataclass
class UsageReport:
    since: float | None
    until: float | None
    total: Totals = field(default_factory=Totals)
    by_day: dict[str, Totals] = field(default_factory=dict)
    by_model: dict[str, Totals] = field(default_factory=dict)
    by_conversation: dict[str, Totals] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def table(d: dict[str, Totals]) -> dict[str, Any]:
            return {k: v.to_dict() for k, v in d.items()}

        return {"since": self.since, "until": self.until, "total": self.total.to_dict(),
                "by_day": table(self.by_day), "by_model": table(self.by_model),
                "by_conversation": table(self.by_conversation)}


def build_report(rows: Iterable[_Row], *, since: float | None = None,
                 until: float | None = None,
                 is_local: Callable[[str], bool] | None = None) -> UsageReport:
    """`is_local(name)` tells the embedded models (free) by the name a reply asked for
    (`Settings.is_local_model`); without it, only `local` is."""
    local = is_local or (lambda name: name == LOCAL_MODEL)
    report = UsageReport(since, until)
    for row in rows:
        free = bool(row.requested_model) and local(str(row.requested_model))
        day = dt.datetime.fromtimestamp(row.created).strftime("%Y-%m-%d")
        for table, key in ((report.by_day, day), (report.by_model, row.model or "(unknown)"),
                           (report.by_conversation, row.conversation_id)):
            table.setdefault(key, Totals()).add(row, free)
        report.total.add(row, free)
    report.by_day = dict(sorted(report.by_day.items()))
    report.by_model = dict(sorted(report.by_model.items(), key=lambda kv: -kv[1].cost))
    report.by_conversation = dict(
        sorted(report.by_conversation.items(), key=lambda kv: -kv[1].cost)
    )
    return report


def parse_when(text: str, *, now: float | None = None, end: bool = False) -> float:
    """`2026-11-01`, `today`, `yesterday`, `month` (its first day), or `7d` / `12h` ago.
    With `end`, a bare date means the end of that day."""
    import time

    now = time.time() if now is None else now
    value = text.strip().lower()
    today = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        start = today
    elif value == "yesterday":
        start = today - dt.timedelta(days=1)
    elif value == "month":
        start = today.replace(day=1)
    else:
        m = re.fullmatch(r"(\d+)\s*([dhw])", value)
        if m:
            n, unit = int(m.group(1)), m.group(2)
            delta = {"d": dt.timedelta(days=n), "h": dt.timedelta(hours=n),
                     "w": dt.timedelta(weeks=n)}[unit]
            return now - delta.total_seconds()
        try:
            start = dt.datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise ConfigError(
                f"cannot read the date {text!r}",
                hint="Use YYYY-MM-DD, today, yesterday, month, or an age like 7d or 12h.",
            ) from None
    if end:
        start += dt.timedelta(days=1)
    return start.timestamp()
