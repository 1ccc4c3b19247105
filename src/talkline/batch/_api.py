"""The provider's Files and Batches endpoints, on httpx (synchronous: a handful of calls).

Errors are mapped like every other talkline request: HTTP errors through
`talkline.errors.error_from_response`, transport errors to `APIConnectionError` /
`APITimeoutError`. Reads and uploads are retried by `talkline.retry`'s rules. Creating or
cancelling a batch is retried only after an answer that proves nothing happened (429,
>= 500): a batch created twice is paid twice, and a 409 will not change by waiting.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from .._version import __version__
from ..errors import APIConnectionError, APIError, APITimeoutError, error_from_response
from ..retry import RetryPolicy, RetryRunner
from ..wire._httpx import httpx as httpx
from ..wire.keycheck import require_key as require_key

__all__ = ["TERMINAL_STATUSES", "BatchAPI"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
_CHUNK = 1 << 16


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
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        require_key(base_url, api_key)
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"talkline/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._secrets = (api_key,) if api_key else ()
        self._owns = http_client is None
        self._http = http_client or httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )
        if http_client is not None:
            self._http.headers.update(headers)
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

    # -- plumbing --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self._url(path)
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"Timed out talking to {url} ({type(exc).__name__})",
                                  url=url, hint="Try again; the server is slow.") from None
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"Could not talk to {url}: {exc or type(exc).__name__}",
                                     url=url,
                                     hint="Check the base URL and your network connection.",
                                     ) from None
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code, response.content, headers=dict(response.headers),
                base_url=self.base_url, content_type=response.headers.get("content-type", ""),
                secrets=self._secrets, request=f"{method} {url}",
            )
        return response

    def _json(self, method: str, path: str, *, retry: bool = True, **kwargs: Any
              ) -> dict[str, Any]:
        def attempt(_: int) -> dict[str, Any]:
            response = self._send(method, path, **kwargs)
            try:
                data = response.json()
            except ValueError:
                raise APIError(f"{self._url(path)} did not answer with JSON",
                               status=response.status_code,
                               request_id=response.headers.get("x-request-id")) from None
            if not isinstance(data, dict):
                raise APIError(f"{self._url(path)} answered with JSON that is not an object",
                               status=response.status_code)
            return data

        return self._runner.call(attempt) if retry else attempt(1)

    # -- files -----------------------------------------------------------------------

    def upload(self, path: Path, *, filename: str | None = None, purpose: str = "batch"
               ) -> dict[str, Any]:
        """`POST /files` (multipart, streamed from disk); the File object."""

        def attempt(_: int) -> dict[str, Any]:
            with open(path, "rb") as fh:
                files = {"file": (filename or path.name, fh, "application/jsonl")}
                return self._json("POST", "files", retry=False, data={"purpose": purpose},
                                  files=files)

        return self._runner.call(attempt)

    def download(self, file_id: str, dest: IO[bytes]) -> int:
        """Stream `GET /files/{id}/content` into `dest`; returns the byte count."""

        def attempt(_: int) -> int:
            dest.seek(0)
            dest.truncate()
            url = self._url(f"files/{file_id}/content")
            written = 0
            try:
                with self._http.stream("GET", url) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._raise(response)
                    for chunk in response.iter_bytes(_CHUNK):
                        dest.write(chunk)
                        written += len(chunk)
            except httpx.HTTPError as exc:
                raise APIConnectionError(f"Downloading {file_id} failed: {exc}", url=url
                                         ) from None
            dest.flush()
            return written

        return self._runner.call(attempt)

    def _raise(self, response: httpx.Response) -> None:
        raise error_from_response(
            response.status_code, response.content, headers=dict(response.headers),
            base_url=self.base_url, content_type=response.headers.get("content-type", ""),
            secrets=self._secrets, request=f"{response.request.method} {response.request.url}",
        )

    # -- batches ---------------------------------------------------------------------

    def create(self, input_file_id: str, *, metadata: Mapping[str, str] | None = None,
               endpoint: str = "/v1/chat/completions") -> dict[str, Any]:
        """`POST /batches`; the Batch object (status `validating`)."""
        body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": endpoint,
                                "completion_window": "24h"}
        if metadata:
            body["metadata"] = dict(metadata)
        headers = {"Idempotency-Key": f"talkline-{uuid.uuid4().hex}"}
        return self._post_answered("batches", json=body, headers=headers)

    def _post_answered(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """POST, retried only after answers that prove nothing happened (429, >= 500):
        a lost answer to a create may mean it was created, and a 409 will not change."""
        state = self._runner.start()
        while True:
            try:
                return self._json("POST", path, retry=False, **kwargs)
            except APIError as exc:
                if exc.status is None or not (exc.status == 429 or exc.status >= 500):
                    raise
                delay = state.failed(exc)
                if delay is None:
                    raise
                self._sleep(delay)

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"batches/{batch_id}")

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._post_answered(f"batches/{batch_id}/cancel")

    def list_batches(self, *, limit: int = 20, after: str | None = None) -> list[dict[str, Any]]:
        """The most recent batches, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        data = self._json("GET", "batches", params=params).get("data")
        return [b for b in data or () if isinstance(b, dict)]

    def wait(self, batch_ids: list[str], *, on_update: Callable[[list[dict[str, Any]]], None]
             | None = None, interval: float = 2.0, max_interval: float = 60.0,
             timeout: float | None = None, sleep: Callable[[float], None] = time.sleep,
             ) -> list[dict[str, Any]]:
        """Poll until every batch is in a final state; the poll interval grows 1.5x per
        round up to `max_interval`. Raises `TimeoutError` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            batches = [self.retrieve(b) for b in batch_ids]
            if on_update is not None:
                on_update(batches)
            if all(b.get("status") in TERMINAL_STATUSES for b in batches):
                return batches
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError("the batches did not finish in time")
            sleep(delay)
            delay = min(delay * 1.5, max_interval)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> BatchAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
