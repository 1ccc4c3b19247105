"""One HTTP attempt of one request, to one server: the only place talkline speaks HTTP.

A connection owns the base URL, the auth (Bearer) and User-Agent headers, the timeouts,
the plain-http warning (once per connection, through the caller's `on_warning`, before the
first byte is sent), the no-key check for OpenAI's host, the redaction of the key in every
error it raises, and the mapping of transport failures and error statuses to
`talkline.errors`. It never retries: `talkline.retry` wraps it from outside. `Connection`
and `AsyncConnection` are twins over `ConnectionCore`, which does everything but the I/O;
the endpoint modules (`chat`, `models`, `files`, `batches`, `tokenize`) are thin on them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from .._version import __version__
from ..errors import APIConnectionError, APIError, ResponseFormatError, ServerError, TalklineError
from ..settings.keys import clean_key
from ._httpx import httpx as httpx
from .jsonload import TooDeep, loads
from .keycheck import needs_key, require_key
from .limits import Inflater, Limits, check_deadline, remaining, too_large
from .plain_http import plain_http_warning
from .pools import ClientPools
from .redact import Redactor
from .redirects import redirect_error
from .status_errors import error_from_response
from .timeouts import Timeouts
from .transport_errors import map_transport_error

__all__ = ["AsyncConnection", "AsyncTransport", "Connection", "ConnectionCore",
           "HeadersCallback", "Transport", "Warn"]

# Called with (status, headers) as soon as a response's headers arrive, errors included.
HeadersCallback = Callable[[int, Mapping[str, str]], None]
Warn = Callable[[str], None]
# httpx's transports, for callers outside the wire that pass one through (tests, proxies).
Transport = httpx.BaseTransport
AsyncTransport = httpx.AsyncBaseTransport

_log = logging.getLogger("talkline.wire")


def _log_warning(text: str) -> None:
    """The default `on_warning`: the `talkline.wire` logger (printed on stderr when the
    program has configured no logging)."""
    _log.warning("%s", text)


class ConnectionCore:
    """Everything a connection does but the I/O (shared by both twins)."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 timeouts: Timeouts | None = None,
                 headers: Mapping[str, str] | None = None,
                 on_warning: Warn | None = None, limits: Limits | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        if api_key:
            api_key = clean_key(api_key, "the api_key given",
                                hint="Pass the key without extra characters.")
        self.timeouts = timeouts or Timeouts()
        self.limits = limits or Limits()
        sent = {"User-Agent": f"talkline/{__version__}", "Accept": "application/json"}
        if api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        sent.update(headers or {})
        self.headers = sent
        scheme, _, token = sent.get("Authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        self.redactor = Redactor((api_key, bearer))
        self.answer_redactor = self.redactor.answer()
        self._no_key = needs_key(self.base_url, api_key)
        self._warning = plain_http_warning(self.base_url, api_key or bearer)
        self._on_warning = on_warning or _log_warning
        self._warn_lock = threading.Lock()
        self._warned = False

    def url(self, path: str, *, root: bool = False) -> str:
        """`path` under the base URL; `root`: under the server's root, the base URL
        without its trailing `/v1` (llama.cpp's `/tokenize`)."""
        base = self.base_url
        if root and base.endswith("/v1"):
            base = base[: -len("/v1")]
        return f"{base}/{path.lstrip('/')}"

    def before_send(self) -> None:
        """Refuse OpenAI with no key; warn once about a key going out in clear text."""
        if self._no_key:
            require_key(self.base_url, None)
        if self._warning is None or self._warned:
            return
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        self._on_warning(self._warning)

    def request_args(self, method: str, path: str, *, stream: bool, root: bool,
                     headers: Mapping[str, str] | None, body: dict[str, Any],
                     deadline: float | None = None) -> dict[str, Any]:
        """What `build_request` takes; `stream`: the answer is read as it comes, so
        reads wait at most the idle timeout; no wait outlasts the `deadline`."""
        self.before_send()
        check_deadline(deadline)
        return dict(method=method, url=self.url(path, root=root), headers=dict(headers or {}),
                    timeout=self.timeouts.for_stream(stream, remaining(deadline)), **body)

    def body_part(self, buf: bytearray, chunk: bytes, deadline: float | None, *,
                  error: bool = False) -> bool:
        """Add one decompressed chunk of a body to `buf`; False once an error body has its
        fill. A body over `max_body_bytes` is refused before more is read."""
        check_deadline(deadline)
        cap = self.limits.max_body_bytes
        if len(buf) + len(chunk) > cap:
            if error:
                buf += chunk[: max(0, cap - len(buf))]
                return False
            raise too_large("a body", cap, "max_body_bytes")
        buf += chunk
        return True

    @contextmanager
    def redacting(self) -> Iterator[None]:
        """The net at the wire's boundary: a talkline error raised inside, whoever made
        it (status mapping, the stream decoder, a parser), leaves with every text it
        carries redacted."""
        try:
            yield
        except TalklineError as exc:
            raise self.redactor.error(exc) from exc.__cause__

    def status_error(self, response: httpx.Response, content: bytes) -> APIError:
        if 300 <= response.status_code < 400:
            return redirect_error(response.status_code, str(response.request.url),
                                  response.headers, self.base_url, self.redactor)
        return error_from_response(
            response.status_code, content, headers=dict(response.headers),
            base_url=self.base_url, content_type=response.headers.get("content-type", ""),
            request=f"{response.request.method} {response.request.url}",
            redactor=self.redactor,
        )

    def transport_error(self, exc: httpx.HTTPError, url: str, *,
                        before_response: bool = False) -> APIConnectionError:
        return map_transport_error(exc, url, before_response=before_response,
                                   redactor=self.redactor)

    def json_value(self, response: httpx.Response) -> Any:
        """The answer's body as JSON (every string passed through `answer_redactor`), or
        a ServerError saying what came instead."""
        try:
            return self.answer_redactor.value(loads(response.content))
        except TooDeep as exc:
            raise ResponseFormatError(
                f"{self.redactor.text(str(response.request.url))} answered "
                f"{response.status_code} with JSON that cannot be read: {exc}",
                status=response.status_code, request_id=response.headers.get("x-request-id"),
                hint="Check that the base URL points at an OpenAI-compatible server.",
            ) from None
        except ValueError:
            url = self.redactor.text(str(response.request.url))
            snippet = self.redactor.text(repr(response.content[:120]))
            raise ServerError(
                f"{url} answered {response.status_code} with a body that is not JSON: "
                f"{snippet}", status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            ) from None

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's body as a JSON object, or a ServerError saying what came instead."""
        data = self.json_value(response)
        if not isinstance(data, dict):
            url = self.redactor.text(str(response.request.url))
            raise ServerError(f"{url} answered with JSON that is not an object",
                              status=response.status_code,
                              request_id=response.headers.get("x-request-id"))
        return data


class Connection(ConnectionCore):
    """The synchronous connection. `transport`: httpx's transport to use (a test's, a
    proxy's); default: httpx's own, on the environment's proxy and TLS settings."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 timeouts: Timeouts | None = None,
                 headers: Mapping[str, str] | None = None,
                 on_warning: Warn | None = None,
                 transport: Transport | None = None, limits: Limits | None = None) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts, headers=headers,
                         on_warning=on_warning, limits=limits)
        self._http = httpx.Client(headers=self.headers, transport=transport)

    @contextmanager
    def open(self, method: str, path: str, *, stream: bool = False, root: bool = False,
             headers: Mapping[str, str] | None = None,
             on_headers: HeadersCallback | None = None, deadline: float | None = None,
             **body: Any) -> Iterator[httpx.Response]:
        """One request; the response (status < 300) while its body is read. An error
        status or a redirect raises its mapped error, with the body read for the message."""
        with self.redacting():
            args = self.request_args(method, path, stream=stream, root=root,
                                     headers=headers, body=body, deadline=deadline)
            try:
                response = self._http.send(self._http.build_request(**args), stream=True)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, args["url"], before_response=True) from None
            try:
                if on_headers is not None:
                    on_headers(response.status_code, response.headers)
                if response.status_code >= 300:
                    raise self.status_error(
                        response, self.read_body(response, deadline, error=True))
                yield response
            finally:
                response.close()

    def read_body(self, response: httpx.Response, deadline: float | None, *,
                  error: bool = False) -> bytes:
        """The body, decompressed chunk by chunk, within `max_body_bytes` and the deadline
        (`error`: an error status's body, cut at the limit; a broken one is empty)."""
        buf = bytearray()
        try:
            for chunk in self._decoded(response):
                if not self.body_part(buf, chunk, deadline, error=error):
                    break
        except httpx.HTTPError as exc:
            if error:
                return b""
            raise self.transport_error(exc, str(response.url)) from None
        response._content = bytes(buf)  # what `response.content` returns from now on
        return response._content

    @staticmethod
    def _decoded(response: httpx.Response) -> Iterator[bytes]:
        """The body decompressed: gzip a bounded piece at a time, others by httpx."""
        if not _gzipped(response):
            yield from response.iter_bytes()
            return
        inflater = Inflater()
        for raw in response.iter_raw():
            yield from inflater.feed(raw)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, its whole answer read, within its deadline (or `max_wait`)."""
        kwargs["deadline"] = self.limits.deadline(kwargs.get("deadline"))
        with self.open(method, path, **kwargs) as response:
            self.read_body(response, kwargs["deadline"])
            return response

    def iter_text(self, response: httpx.Response) -> Generator[str, None, None]:
        try:
            yield from response.iter_text()
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, str(response.url)) from None

    def iter_bytes(self, response: httpx.Response, chunk_size: int
                   ) -> Generator[bytes, None, None]:
        try:
            yield from response.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, str(response.url)) from None

    def close(self) -> None:
        self._http.close()


class AsyncConnection(ConnectionCore):
    """The asynchronous twin of `Connection`. `shard_size`: spread `max_connections` over
    pools of that many connections (see `pools`); None: one pool."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 timeouts: Timeouts | None = None,
                 headers: Mapping[str, str] | None = None,
                 on_warning: Warn | None = None,
                 transport: AsyncTransport | None = None,
                 max_connections: int = 1000, shard_size: int | None = None,
                 limits: Limits | None = None) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts, headers=headers,
                         on_warning=on_warning, limits=limits)
        self.pools = ClientPools(self.base_url, self.headers, max_connections=max_connections,
                                 shard_size=shard_size, transport=transport)

    @asynccontextmanager
    async def open(self, method: str, path: str, *, stream: bool = False, root: bool = False,
                   headers: Mapping[str, str] | None = None,
                   on_headers: HeadersCallback | None = None,
                   deadline: float | None = None, **body: Any
                   ) -> AsyncIterator[httpx.Response]:
        with self.redacting():
            args = self.request_args(method, path, stream=stream, root=root,
                                     headers=headers, body=body, deadline=deadline)
            async with self._opened(args, on_headers, deadline) as response:
                yield response

    @asynccontextmanager
    async def _opened(self, args: dict[str, Any], on_headers: HeadersCallback | None,
                      deadline: float | None) -> AsyncIterator[httpx.Response]:
        with self.pools.lease() as http:
            try:
                response = await http.send(http.build_request(**args), stream=True)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, args["url"], before_response=True) from None
            try:
                if on_headers is not None:
                    on_headers(response.status_code, response.headers)
                if response.status_code >= 300:
                    content = await self.aread_body(response, deadline, error=True)
                    raise self.status_error(response, content)
                yield response
            finally:
                await response.aclose()

    async def aread_body(self, response: httpx.Response, deadline: float | None, *,
                         error: bool = False) -> bytes:
        """The async twin of `Connection.read_body`."""
        buf = bytearray()
        try:
            async for chunk in self._adecoded(response):
                if not self.body_part(buf, chunk, deadline, error=error):
                    break
        except httpx.HTTPError as exc:
            if error:
                return b""
            raise self.transport_error(exc, str(response.url)) from None
        response._content = bytes(buf)
        return response._content

    @staticmethod
    async def _adecoded(response: httpx.Response) -> AsyncIterator[bytes]:
        if not _gzipped(response):
            async for chunk in response.aiter_bytes():
                yield chunk
            return
        inflater = Inflater()
        async for raw in response.aiter_raw():
            for piece in inflater.feed(raw):
                yield piece

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs["deadline"] = self.limits.deadline(kwargs.get("deadline"))
        async with self.open(method, path, **kwargs) as response:
            await self.aread_body(response, kwargs["deadline"])
            return response

    async def aiter_text(self, response: httpx.Response) -> AsyncGenerator[str, None]:
        try:
            async for text in response.aiter_text():
                yield text
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, str(response.url)) from None

    async def aclose(self) -> None:
        await self.pools.aclose()


def _gzipped(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip")
