"""The local batch runner: many requests through one `AsyncClient`, at the account's limit.

One feeder task reads the requests (a stream: nothing holds the whole input) into a
bounded queue; `concurrency` workers send them through the client, whose shared
`RateLimiter` paces them (limits from settings, corrected from `x-ratelimit-*` headers)
and whose retry policy absorbs transient failures. Each result is appended to the output
as soon as it arrives (`ResultWriter`), so a stop at any moment loses at most the
requests in flight, and a second run skips every custom_id already written.

Stopping (`stop()`, wired to SIGINT by the CLI): no new request starts, requests in
flight get `grace` seconds to finish, then are abandoned (a second `stop()` abandons at
once). `--budget` (`Spending`): a request whose worst case could take the run's
spending over the budget is not sent, and the run stops the same way. A wrong API key
or an exhausted quota ends the run at once with that error (every other line would fail
alike), and so do `UNREACHABLE_LIMIT` lines in a row that could not connect at all; what
was written stays, and the next run resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import (
    APIConnectionError,
    AuthenticationError,
    MissingKeyError,
    QuotaExceededError,
    RateLimitError,
    StreamInterrupted,
    TalklineError,
)
from ..types import ChatParams, ChatResponse
from ._input import BatchRequest
from ._log import ConversationLog
from ._output import ResultWriter
from ._progress import BatchProgress, BatchSummary, RateMeter
from ._records import error_record, success_record
from ._spending import Spending

__all__ = ["BatchRunner", "run_batch"]

ProgressCallback = Callable[[BatchProgress], None]
# Errors no line can escape (a wrong or missing key, an exhausted quota): the run ends on
# the first one and raises it, instead of writing it next to every remaining line.
_RUN_ENDING = (AuthenticationError, MissingKeyError, QuotaExceededError)
# Lines in a row that could not connect at all (DNS, refused; each after its retries)
# before the run stops: every other line would wait out its retries for nothing.
UNREACHABLE_LIMIT = 3


def _as_request(item: BatchRequest | Mapping[str, Any], position: int) -> BatchRequest:
    if isinstance(item, BatchRequest):
        return item
    return BatchRequest(str(item["custom_id"]), dict(item["body"]), position + 1, position)


def _call_args(body: Mapping[str, Any]) -> tuple[Any, ChatParams]:
    """(messages, the request) for `AsyncClient.complete`: the line is sent as it is, like
    the Batch API sends it; unknown fields ride in `extra_body`, as a compatible server may
    expect them."""
    return body["messages"], ChatParams.from_dict({**body, "model": str(body["model"])})


class BatchRunner:
    """Runs requests into a results file; see the module doc. One `run` per runner."""

    def __init__(
        self,
        client: Any,
        output: str | Path,
        *,
        concurrency: int = 100,
        ordered: bool = False,
        budget: float | None = None,
        on_progress: ProgressCallback | None = None,
        progress_interval: float = 0.25,
        log: ConversationLog | None = None,
        retry_failed: bool = False,
        grace: float = 10.0,
        catalog: Any = None,
        reorder_window: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.output = Path(output)
        self.concurrency = concurrency
        self.ordered = ordered
        self.budget = budget
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.log = log
        self.retry_failed = retry_failed
        self.grace = grace
        self.catalog = catalog
        self.window = reorder_window or 4 * concurrency
        self.total: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[int, BatchRequest] | None] | None = None
        self._writer: ResultWriter | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._advanced: asyncio.Event | None = None
        self._abandon_timer: asyncio.TimerHandle | None = None
        self._stop_reason: str | None = None
        self._fatal: BaseException | None = None
        self._cut_off: list[tuple[int, BatchRequest, dict[str, Any]]] = []
        self._started = time.monotonic()
        self._meter = RateMeter()
        self._seen = 0
        self.resumed = self.succeeded = self.failed = self.in_flight = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.retries = self.rate_limited = 0
        self.spending = Spending(budget, catalog=catalog)

    # -- control -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking new requests (a second call abandons those in flight).

        Safe to call from a signal handler or another thread.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._request_stop)

    def note_retry(self, event: Any) -> None:
        """Pass as the client's `on_retry` to count retries and 429s in the progress."""
        self.retries += 1
        error = getattr(event, "error", None)
        cause = error.cause if isinstance(error, StreamInterrupted) else error
        if isinstance(cause, RateLimitError):
            self.rate_limited += 1

    def _request_stop(self) -> None:
        if self._stop_reason is None:
            self._stop("interrupted", grace=self.grace)
        else:
            self._abandon()

    def _stop(self, reason: str, *, grace: float | None = None, abandon: bool = False) -> None:
        first = self._stop_reason is None
        if first:
            self._stop_reason = reason
        if abandon:
            self._abandon()
        if not first:
            return
        if self._feeder is not None:
            self._feeder.cancel()
        queue = self._queue
        if queue is not None:
            while not queue.empty():  # unsent requests: the next run picks them up
                queue.get_nowait()
            for _ in self._workers:
                try:
                    queue.put_nowait(None)
                except asyncio.QueueFull:  # pragma: no cover - the queue holds one per worker
                    break
        if grace is not None and self._loop is not None and not abandon:
            self._abandon_timer = self._loop.call_later(grace, self._abandon)

    def _abandon(self) -> None:
        for task in self._workers:
            task.cancel()

    # -- the run ---------------------------------------------------------------------

    async def run(self, requests: Iterable[BatchRequest | Mapping[str, Any]], *,
                  total: int | None = None) -> BatchSummary:
        """Send every request not already in the output; return how it went."""
        self._loop = asyncio.get_running_loop()
        self.total = total
        self._started = time.monotonic()
        writer = ResultWriter.open(self.output, ordered=self.ordered,
                                   retry_failed=self.retry_failed)
        self._writer = writer
        self._queue = asyncio.Queue(maxsize=self.concurrency)
        self._advanced = asyncio.Event()
        dropped = 0
        ticker: asyncio.Task[None] | None = None
        try:
            self._feeder = asyncio.create_task(self._feed(iter(requests)))
            self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
            if self.on_progress is not None:
                ticker = asyncio.create_task(self._tick())
            results = await asyncio.gather(self._feeder, *self._workers, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and self._fatal is None:
                    self._fatal = result
            if self._stop_reason is None:
                self._reached()  # the last lines could not connect: they failed
        finally:
            if self._abandon_timer is not None:
                self._abandon_timer.cancel()
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            dropped = writer.close()
        if self._fatal is not None:
            raise self._fatal
        if self.on_progress is not None:
            self.on_progress(self.progress())
        return self._summary(dropped, writer.resume.torn)

    async def _feed(self, requests: Iterator[BatchRequest | Mapping[str, Any]]) -> None:
        writer, queue, advanced = self._writer, self._queue, self._advanced
        assert writer is not None and queue is not None and advanced is not None
        done = writer.done_ids
        try:
            for position, item in enumerate(requests):
                request = _as_request(item, position)
                self._seen = position + 1
                if request.custom_id in done:
                    self.resumed += 1
                    writer.skip(position)
                    if self.resumed % 1000 == 0:
                        await asyncio.sleep(0)  # a long resumed prefix must not freeze the loop
                    continue
                while self.ordered and position - writer.next_index >= self.window:
                    advanced.clear()
                    await advanced.wait()
                await queue.put((position, request))
        except Exception as exc:  # the input could not be read: finish what is in flight
            self._fatal = exc
            self._stop("error")
            return
        if self.total is None:
            self.total = self._seen
        for _ in self._workers:
            await queue.put(None)

    async def _work(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            item = await queue.get()
            if item is None:
                return
            if self._stop_reason is not None:
                continue
            position, request = item
            try:
                reserved = await self.spending.reserve(request.body,
                                                       lambda: self._stop_reason is not None)
            except LookupError:
                self._stop("budget")
                continue
            self.in_flight += 1
            try:
                record, response, error = await self._ask(request)
            except _RUN_ENDING as exc:  # every other line would fail the same way
                self.spending.release(reserved)
                self._fatal = self._fatal or exc
                self._stop("error", abandon=True)
                continue
            finally:
                self.in_flight -= 1
            try:
                if isinstance(error, APIConnectionError) and error.connect:
                    self._unreachable(position, request, record, error)
                else:
                    self._reached()
                    self._record(position, request, record, response)
            finally:
                self.spending.release(reserved)  # after its real cost was added

    async def _ask(self, request: BatchRequest
                   ) -> tuple[dict[str, Any], ChatResponse | None, BaseException | None]:
        try:
            messages, params = _call_args(request.body)
            response: ChatResponse = await self.client.complete(messages, params=params)
        except _RUN_ENDING:
            raise
        except TalklineError as exc:
            return error_record(request.custom_id, exc), None, exc
        except (ValueError, TypeError, KeyError) as exc:  # a body the client cannot build
            return error_record(request.custom_id, exc), None, exc
        return success_record(request.custom_id, response), response, None

    def _unreachable(self, position: int, request: BatchRequest, record: dict[str, Any],
                     error: APIConnectionError) -> None:
        """Held back unwritten; the UNREACHABLE_LIMIT-th in a row stops the run (the held
        lines are left for the next run), an answer writes them as failed (`_reached`)."""
        self._cut_off.append((position, request, record))
        if len(self._cut_off) < UNREACHABLE_LIMIT or self._stop_reason is not None:
            return
        where = str(getattr(getattr(self.client, "settings", None), "base_url", "") or error.url)
        self._fatal = self._fatal or APIConnectionError(
            f"Stopped after {len(self._cut_off)} requests in a row could not connect to "
            f"{where} ({error.reason or 'no connection'}).", url=where, connect=True,
            reason=error.reason, hint="Check the base URL and your network, then run the "
            "same command again to resume.")
        self._stop("error", abandon=True)

    def _reached(self) -> None:
        held, self._cut_off = self._cut_off, []
        for position, request, record in held:
            self._record(position, request, record, None)

    def _record(self, position: int, request: BatchRequest, record: dict[str, Any],
                response: ChatResponse | None) -> None:
        writer, advanced = self._writer, self._advanced
        assert writer is not None and advanced is not None
        try:
            writer.write(position, record)
        except OSError as exc:
            error = TalklineError(
                f"Cannot write the results to {self.output}: {exc.strerror or exc}",
                hint="Free some space or fix the permissions, then run the same command "
                "again: it resumes.",
            )
            error.__cause__ = exc
            self._fatal = self._fatal or error
            self._stop("error", abandon=True)
            return
        advanced.set()
        tokens = 0
        if response is None:
            self.failed += 1
        else:
            self.succeeded += 1
            cost, estimated = self.spending.record(request.body, response)
            usage = response.usage
            if usage is not None:
                self.prompt_tokens += usage.prompt_tokens
                self.completion_tokens += usage.completion_tokens
                tokens = usage.total_tokens
            if self.log is not None:
                self.log.add_response(request.body, response, cost, estimated)
        self._meter.add(time.monotonic(), tokens)

    # -- reporting ---------------------------------------------------------------------

    async def _tick(self) -> None:
        assert self.on_progress is not None
        while True:
            self.on_progress(self.progress())
            await asyncio.sleep(self.progress_interval)

    def progress(self) -> BatchProgress:
        now = time.monotonic()
        rpm, tpm = self._meter.per_minute(now, self._started)
        done = self.resumed + self.succeeded + self.failed
        eta = None
        if self.total is not None and rpm > 0:
            eta = max(0, self.total - done) / rpm * 60
        return BatchProgress(
            total=self.total, done=done, resumed=self.resumed, succeeded=self.succeeded,
            failed=self.failed, in_flight=self.in_flight, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.spending.total, cost_estimated=self.spending.estimated,
            elapsed=now - self._started, requests_per_minute=rpm, tokens_per_minute=tpm,
            eta=eta, retries=self.retries, rate_limited=self.rate_limited,
            stopping=self._stop_reason,
        )

    def _summary(self, dropped: int, torn: int) -> BatchSummary:
        return BatchSummary(
            output=self.output, total=self.total, resumed=self.resumed,
            succeeded=self.succeeded, failed=self.failed, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.spending.total, cost_estimated=self.spending.estimated,
            elapsed=time.monotonic() - self._started, stopped=self._stop_reason,
            dropped=dropped, unpriced_models=tuple(sorted(self.spending.unpriced)),
            retries=self.retries, rate_limited=self.rate_limited, torn_bytes=torn,
            budget=self.budget,
        )


async def run_batch(
    requests: Iterable[BatchRequest | Mapping[str, Any]], output: str | Path, *,
    client: Any, concurrency: int = 100, ordered: bool = False, budget: float | None = None,
    on_progress: ProgressCallback | None = None, total: int | None = None, **options: Any,
) -> BatchSummary:
    """Run `requests` (`BatchRequest`s or Batch API lines) into the JSONL file `output`.

    ```python
    async with batch_client(concurrency=100) as client:
        summary = await run_batch(iter_requests("in.jsonl"), "out.jsonl", client=client)
    ```
    Run it again with the same output to resume. Other options: see `BatchRunner`.
    """
    runner = BatchRunner(client, output, concurrency=concurrency, ordered=ordered,
                         budget=budget, on_progress=on_progress, **options)
    return await runner.run(requests, total=total)
