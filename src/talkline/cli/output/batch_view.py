"""What `talkline batch` shows: a run's live progress on stderr and its closing summary;
tables of Batch API batches.

rich draws the progress bar only when stderr is a terminal; elsewhere a plain status
line is written every few seconds, so logs of long runs stay readable. Nothing is ever
written to stdout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ...batch import BatchProgress, BatchRunner, BatchSummary, ConversationLog
    from .terminal import Terminal

__all__ = [
    "ProgressView",
    "batch_errors",
    "counts",
    "created",
    "money",
    "print_summary",
    "show_batches",
    "stop_with_notice",
]


def stop_with_notice(runner: BatchRunner, view: ProgressView) -> None:
    if view.stopping:
        view.note("Abandoning the requests in flight.")
    else:
        view.note(f"Stopping: no new requests; waiting up to {runner.grace:g} s for those "
                  "in flight (Ctrl-C again to abandon them).")
    view.stopping = True
    runner.stop()


def money(amount: float | None, estimated: bool = False) -> str:
    if amount is None:
        return "no price known"
    try:
        from ...planning.costs import format_usd as format_usd

        text = format_usd(amount)
    except ImportError:  # pragma: no cover
        text = f"${amount:.4f}"
    return f"~{text}" if estimated else text


def print_summary(term: Terminal, s: BatchSummary, log: ConversationLog | None) -> None:
    total = s.total if s.total is not None else s.resumed + s.succeeded + s.failed
    done = s.written
    earlier = f" ({s.resumed} from an earlier run)" if s.resumed else ""
    rate = f", {s.requests_per_minute:,.0f} req/min" if s.succeeded + s.failed else ""
    term.status(f"{done} of {total} lines done{earlier} in {s.elapsed:.1f} s{rate}: "
                f"{s.succeeded} answered, {s.failed} failed, {s.not_run or 0} left.")
    cost = "" if s.cost is None else f"; cost {money(s.cost, s.cost_estimated)}"
    term.status(f"Tokens: {s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion"
                f"{cost}. Results: {s.output}")
    if s.retries:
        term.status(f"{s.retries} retries ({s.rate_limited} after a 429).")
    if s.torn_bytes:
        term.warn(f"Removed a torn last line ({s.torn_bytes} bytes) left by an earlier run.")
    for model in s.unpriced_models:
        term.warn(f"No price known for {model}: its costs are not counted"
                  + (" and --budget cannot limit it." if s.budget is not None else "."))
    if s.dropped:
        term.warn(f"{s.dropped} answers waiting for their turn in --ordered were dropped; "
                  "they are asked again on resume.")
    if log is not None:
        term.status(f"Stored {log.stored} conversation(s)." + (
            f" {log.failures} could not be stored: {log.last_error}" if log.failures else ""))
    if s.failed:
        term.warn(f"{s.failed} line(s) failed for good; they are in the results with their "
                  "error. Resend them with --retry-failed.")
    if s.stopped == "interrupted":
        term.warn("Interrupted. Run the same command again to resume.")
    elif s.stopped == "budget":
        term.warn(f"Stopped before the next request could take spending over the budget "
                  f"({money(s.budget)}). Run again with a higher --budget to go on.")


class ProgressView:
    """rich progress on a terminal's stderr; elsewhere a plain line every 10 s."""

    def __init__(self, term: Terminal, every: float = 10.0) -> None:
        self.term = term
        self.every = every
        self.stopping = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0

    def start(self, total: int) -> None:
        if not self.term.err_tty:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        console = Console(file=self.term.err, highlight=False)
        self._progress = Progress(TextColumn("[bold]batch"), BarColumn(),
                                  TextColumn("{task.fields[stats]}"), console=console,
                                  refresh_per_second=4)
        self._task = self._progress.add_task("batch", total=total, stats="starting")
        self._progress.start()

    def update(self, p: BatchProgress) -> None:
        stats = _stats(p)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=p.done, total=p.total, stats=stats)
            return
        import time

        now = time.monotonic()
        if now - self._last_line >= self.every and p.elapsed >= self.every:
            self._last_line = now
            self.term.status(f"batch: {stats}")

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False)
        else:
            self.term.warn(text)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _stats(p: BatchProgress) -> str:
    total = "?" if p.total is None else f"{p.total:,}"
    parts = [f"{p.done:,}/{total}", f"{p.requests_per_minute:,.0f} req/min",
             f"{p.tokens_per_minute:,.0f} tok/min", f"{p.failed} errors"]
    if p.cost is not None:
        parts.append(money(p.cost, p.cost_estimated))
    if p.eta is not None and not p.stopping:
        parts.append(f"ETA {dt.timedelta(seconds=round(p.eta))}")
    if p.stopping:
        parts.append(f"stopping ({p.in_flight} in flight)")
    return " · ".join(parts)


# ---------------------------------------------------------------- the Batch API


Batch = Mapping[str, object]  # a Batch object as the API sends it (JSON)


def _at(b: Batch, *keys: str) -> object:
    """A nested field of a Batch object, or None where the path stops."""
    value: object = b
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def counts(b: Batch) -> str:
    def n(key: str) -> object:
        value = _at(b, "request_counts", key)
        return 0 if value is None else value

    return f"{n('completed')}/{n('total')} done, {n('failed')} failed"


def created(b: Batch) -> str:
    ts = b.get("created_at")
    return (dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
            if isinstance(ts, (int, float)) and ts else "-")


def show_batches(term: Terminal, batches: Sequence[Batch]) -> None:
    rows: list[dict[str, object]] = [
        {"id": b.get("id"), "status": b.get("status"), "requests": counts(b),
         "created": created(b), "input": _at(b, "metadata", "input") or ""}
        for b in batches]
    term.table(rows, ["id", "status", "requests", "created", "input"])
    batch_errors(term, batches)


def batch_errors(term: Terminal, batches: Sequence[Batch]) -> None:
    """The validation errors of failed batches (the first ten of each)."""
    for b in batches:
        errors = _at(b, "errors", "data")
        for err in (errors if isinstance(errors, list) else [])[:10]:
            if not isinstance(err, Mapping):
                continue
            line = f" (line {err['line']})" if err.get("line") else ""
            term.warn(f"{b.get('id')}: {err.get('code')}{line}: {err.get('message')}")
