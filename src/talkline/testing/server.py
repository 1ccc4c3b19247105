"""A scripted, OpenAI-compatible HTTP server for tests and benchmarks (stdlib only).

>>> from talkline.testing import ScriptedServer, Reply, Error, Fault
>>> with ScriptedServer() as srv:
...     srv.script(Reply("Hi!"), Error.rate_limit(retry_after_ms=20), Fault.cut_after(2))
...     base_url = srv.url   # "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import collections
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ._actions import Action, ActionSource, Error, Reply
from ._batch import BatchStore
from ._ratelimit import RateLimiter
from ._recorded import RecordedRequest
from ._render import completion_object, last_user_text

__all__ = ["RecordedRequest", "ScriptedServer"]

DefaultAction = Action | Callable[[Mapping[str, Any]], Action] | None


@dataclass
class _Live:
    sock: socket.socket
    thread: threading.Thread


@dataclass
class _Stats:
    counts: dict[str, int] = field(
        default_factory=lambda: {"requests": 0, "ok": 0, "429": 0, "errors": 0, "faults": 0}
    )


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, owner: ScriptedServer, address: tuple[str, int]) -> None:
        from ._handler import Handler

        self.owner = owner
        super().__init__(address, Handler)

    def handle_request_nonblocking(self) -> None:
        """Accept one pending connection and hand it to a thread (socketserver's logic)."""
        try:
            request, client_address = self.get_request()
        except OSError:  # e.g. BlockingIOError: the peer gave up before we accepted
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.owner.stopping.is_set():
            return  # a client went away, or we are stopping: not a server bug
        super().handle_error(request, client_address)


class ScriptedServer:
    """An OpenAI-compatible server answering from a script of actions.

    Each ``POST /v1/chat/completions`` consumes the next scripted action (``Reply``,
    ``Error``, ``Fault``, or a callable ``body -> action``); when the script is empty,
    ``default`` answers (``None``: ``Reply(f"Echo: {last user message}")``).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        latency: float = 0.0,
        model: str = "gpt-4o-mini",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_key: str | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.latency = latency
        self.model = model
        self.require_key = require_key
        self.models: list[str] = ["gpt-4o-mini", "gpt-4o"]
        self.default: DefaultAction = None
        self.sse_line_ending = "\n"
        self.responses_api = True  # False: answer 404 on /v1/responses, as most servers do
        self.completions_api = True  # False: 404 on /v1/completions (OpenAI, a chat model)
        self._events: list[dict[str, Any]] = []
        self.batch_step_seconds = 0.0
        self.batch_max_lines = 50000
        self.limiter = RateLimiter(rpm, tpm)
        self.batches = BatchStore()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._script: collections.deque[ActionSource] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._stats = _Stats()
        self._live: dict[int, _Live] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket
        self._wake_w: socket.socket

    # ---- lifecycle ----
    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        self._httpd = _HTTPServer(self, (self.host, self._port))
        self._port = self._httpd.server_address[1]
        self._httpd.socket.setblocking(False)  # accept() after select() must never block
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve,
            args=(self._httpd, self._wake_r),
            name=f"ScriptedServer:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, wake stalled handlers, close every connection. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        try:
            self._wake_w.send(b"x")  # wakes the accept loop at once (no poll interval)
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        httpd.server_close()
        self._wake_r.close()
        self._wake_w.close()
        with self._lock:
            live = list(self._live.values())
        for conn in live:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for conn in live:
            if conn.thread is not threading.current_thread():
                conn.thread.join(max(0.0, deadline - time.monotonic()))

    def _serve(self, httpd: _HTTPServer, wake: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(httpd.socket, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not self.stopping.is_set():
                ready = {key.fileobj for key, _ in sel.select()}
                if wake in ready or self.stopping.is_set():
                    break
                httpd.handle_request_nonblocking()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT/v1``."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not started")
        return f"http://{self.host}:{self._port}/v1"

    # ---- scripting ----
    def script(self, *actions: ActionSource) -> None:
        """Queue actions; each chat completion request consumes the next one."""
        with self._lock:
            self._script.extend(actions)

    @property
    def pending(self) -> int:
        """How many scripted actions are not consumed yet."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Clear the script, the recorded requests and the stats."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._events.clear()
            self._stats = _Stats()

    def next_action(self, body: Mapping[str, Any]) -> Action:
        """Consume the next scripted action (or the default) for a request body."""
        with self._lock:
            source: ActionSource | DefaultAction = (
                self._script.popleft() if self._script else self.default
            )
        if source is None:
            return Reply(content=f"Echo: {last_user_text(body)}")
        if callable(source):
            return source(body)
        return source

    # ---- recordings & stats ----
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.route.rstrip("/").endswith("/chat/completions")
        ]

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        """The `POST /v1/responses` requests received."""
        return [r for r in self.requests
                if r.method == "POST" and r.route.rstrip("/").endswith("/responses")]

    @property
    def sent_events(self) -> list[dict[str, Any]]:
        """Every Responses API stream event sent, in order (to check them against the
        official schema)."""
        with self._lock:
            return list(self._events)

    def record_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def stats(self) -> dict[str, int]:
        """Counters over chat completion requests: requests, ok, 429, errors, faults."""
        with self._lock:
            return dict(self._stats.counts)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def count(self, key: str) -> None:
        with self._lock:
            self._stats.counts[key] = self._stats.counts.get(key, 0) + 1

    def add_live(self, sock: socket.socket) -> None:
        with self._lock:
            self._live[id(sock)] = _Live(sock, threading.current_thread())

    def drop_live(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.pop(id(sock), None)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if the full time passed."""
        if seconds <= 0:
            return not self.stopping.is_set()
        return not self.stopping.wait(seconds)

    def batch_answer(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one batch line through the same script / default logic."""
        from ._actions import Fault

        if body.get("model") == "fail":
            err = Error(
                status=400,
                message="The model `fail` does not exist or you do not have access to it.",
                type="invalid_request_error",
                code="model_not_found",
                param="model",
            )
            return err.status, {"error": err.error_object()}
        action = self.next_action(body)
        if isinstance(action, Fault):
            if action.kind == "slow_first_byte" and action.then is not None:
                action = action.then
            else:
                action = action.as_error() if action.kind == "error_event" else Error()
        if isinstance(action, Error):
            return action.status, {"error": action.error_object()}
        return 200, completion_object(action, body, self.model)
