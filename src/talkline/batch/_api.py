"""The provider's Files and Batches endpoints, through the wire (synchronous: a handful of
calls).

Everything HTTP, headers, timeouts, the plain-http warning, key redaction, error mapping,
is the wire's (`talkline.wire.files`, `talkline.wire.batches`); this class adds the retry
rules around each attempt, with `talkline.retry`'s runner. Reads and uploads are retried
by its rules. Creating or cancelling a batch is retried only after an answer that proves
nothing happened (429, >= 500): a batch created twice is paid twice, and a 409 will not
change by waiting.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from ..errors import APIError
from ..retry import RetryPolicy, RetryRunner
from ..wire import batches, files
from ..wire.connection import Connection, Transport, Warn
from ..wire.keycheck import require_key as require_key
from ..wire.timeouts import Timeouts

__all__ = ["TERMINAL_STATUSES", "BatchAPI"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
T = TypeVar("T")


class BatchAPI:
    """`/files` and `/batches` of one server. Use as a context manager, or `close()`.

    ```python
    with BatchAPI.from_settings(Settings.resolve()) as api:
        batch = api.create(api.upload(Path("in.jsonl"))["id"])
    ```
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        retries: int = 4,
        connect_timeout: float = 10.0,
        timeout: float = 600.0,
        on_warning: Warn | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        require_key(base_url, api_key)
        timeouts = Timeouts(connect=connect_timeout, read=timeout, idle=timeout, write=timeout)
        self.connection = Connection(base_url, api_key, timeouts=timeouts,
                                     on_warning=on_warning, transport=transport)
        self.base_url = self.connection.base_url
        self._sleep = sleep
        self._runner = RetryRunner(RetryPolicy(max_retries=retries), sleep=sleep,
                                   rand=random.random)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> BatchAPI:
        """From resolved `Settings` (base URL, key, retries, timeouts)."""
        kwargs.setdefault("retries", max(settings.retries, 4))
        kwargs.setdefault("connect_timeout", settings.connect_timeout)
        kwargs.setdefault("timeout", settings.timeout)
        return cls(settings.base_url, settings.api_key, **kwargs)

    # -- retries around one attempt ----------------------------------------------------

    def _retried(self, attempt: Callable[[], T]) -> T:
        """Every failure the retry rules allow is tried again."""
        return self._runner.call(lambda _: attempt())

    def _retried_if_answered(self, attempt: Callable[[], T]) -> T:
        """Retried only after answers that prove nothing happened (429, >= 500): a lost
        answer to a create may mean it was created, and a 409 will not change."""
        state = self._runner.start()
        while True:
            try:
                return attempt()
            except APIError as exc:
                if exc.status is None or not (exc.status == 429 or exc.status >= 500):
                    raise
                delay = state.failed(exc)
                if delay is None:
                    raise
                self._sleep(delay)

    # -- files -----------------------------------------------------------------------

    def upload(self, path: Path, *, filename: str | None = None, purpose: str = "batch"
               ) -> dict[str, Any]:
        """`POST /files` (multipart, streamed from disk); the File object."""
        return self._retried(lambda: files.upload(self.connection, path, filename=filename,
                                                  purpose=purpose))

    def download(self, file_id: str, dest: IO[bytes]) -> int:
        """Stream `GET /files/{id}/content` into `dest`; returns the byte count."""

        def attempt() -> int:
            dest.seek(0)
            dest.truncate()
            written = files.download(self.connection, file_id, dest)
            dest.flush()
            return written

        return self._retried(attempt)

    # -- batches ---------------------------------------------------------------------

    def create(self, input_file_id: str, *, metadata: Mapping[str, str] | None = None,
               endpoint: str = "/v1/chat/completions") -> dict[str, Any]:
        """`POST /batches`; the Batch object (status `validating`)."""
        key = f"talkline-{uuid.uuid4().hex}"  # the same key on every attempt
        return self._retried_if_answered(lambda: batches.create(
            self.connection, input_file_id, endpoint=endpoint, metadata=metadata,
            idempotency_key=key))

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._retried(lambda: batches.retrieve(self.connection, batch_id))

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._retried_if_answered(lambda: batches.cancel(self.connection, batch_id))

    def list_batches(self, *, limit: int = 20, after: str | None = None) -> list[dict[str, Any]]:
        """The most recent batches, newest first."""
        return self._retried(lambda: batches.list_batches(self.connection, limit=limit,
                                                          after=after))

    def wait(self, batch_ids: list[str], *, on_update: Callable[[list[dict[str, Any]]], None]
             | None = None, interval: float = 2.0, max_interval: float = 60.0,
             timeout: float | None = None, sleep: Callable[[float], None] = time.sleep,
             ) -> list[dict[str, Any]]:
        """Poll until every batch is in a final state; the poll interval grows 1.5x per
        round up to `max_interval`. Raises `TimeoutError` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            found = [self.retrieve(b) for b in batch_ids]
            if on_update is not None:
                on_update(found)
            if all(b.get("status") in TERMINAL_STATUSES for b in found):
                return found
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError("the batches did not finish in time")
            sleep(delay)
            delay = min(delay * 1.5, max_interval)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> BatchAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
