"""A hostile OpenAI-compatible server on 127.0.0.1 that controls every byte it sends.

Unlike `ScriptedServer` (which speaks HTTP through the standard library's framework), this
one reads the request from a raw socket and writes whatever bytes its mode says: broken
framing, lies in headers, resets, silence. One mode per connection; every request is
recorded (`requests`) so a test can see what the client sent, and where.

```python
with HostileServer("echo_auth_text") as srv:
    run_talkline(base_url=srv.url)
```

Each mode answers any path (chat completions, `/models`) unless said otherwise. The
modes, by the class of issue 13 they attack:

Secrets (the request's Authorization header sent back):
- `echo_auth_text`: 200, text/plain, a body quoting the Authorization header.
- `echo_auth_error_event`: a 200 stream whose first event is an error quoting it.
- `echo_auth_data_line`: a 200 stream with a non-JSON `data:` line quoting it.
- `echo_auth_error_json`: a 401 JSON error whose message quotes it.

Hangs and unbounded resources:
- `drip`: a 200 stream that sends one byte a second, forever.
- `keepalive_forever`: a 200 stream of `: keep-alive` comments, forever.
- `headers_then_silence`: 200 stream headers, then nothing, forever.
- `huge_line`: one SSE `data:` line of `size` bytes (default 100 MB) with no newline
  until the end.
- `gzip_bomb`: `Content-Encoding: gzip`, about 1 MB that expands to `size` bytes
  (default 1 GiB) of spaces, then a valid completion (valid JSON once decoded).
- `retry_after_huge`: 429 with `Retry-After: 99999`.
- `endless_body`: 200 JSON with no Content-Length that never ends (spaces, forever).

Crashes (tracebacks):
- `lone_surrogate`: a valid completion whose content holds the escape `\\ud800` (a
  stream for a streamed request).
- `bad_utf8`: a 200 JSON body with bytes that are not UTF-8.
- `deep_nesting`: a 200 JSON body of arrays nested 100,000 deep.
- wrong shapes, each valid JSON: `choices_not_list`, `choice_not_object`,
  `message_string`, `usage_number`, `tokens_strings`, `tokens_huge` (1e308),
  `tokens_negative`, `index_string`, `stream_choices_string` (a stream chunk with
  `choices: "x"`), `models_data_not_list`, `models_data_null` (for `/models`).
- `binary_garbage`: random bytes instead of an HTTP response.

Wrong answers and broken transport:
- `redirect_301`, `redirect_302`, `redirect_307`, `redirect_308`: a redirect to
  `http://127.0.0.1:9/v1/chat/completions` with an empty body; the `_body` variants
  (`redirect_307_body`, ...) carry a valid completion as the body.
- `json_error_to_stream`: 200 `application/json` holding an `{"error": ...}` object,
  whatever was asked (the server's own error on a streamed request).
- `html_to_stream`: 200 text/html to a streamed request.
- `empty_choices`: a completion (or stream) with `choices: []`.
- `text_then_error_event`: a stream of some text, then an error event.
- `reset_mid_stream`: a stream of some text, then a TCP reset.
- `bad_chunked`: `Transfer-Encoding: chunked` with a chunk size that is not hex.
- `short_body`: a Content-Length larger than the body, then the connection closed.
- `close_at_once`: the connection closed before any byte of a response.
- `bad_status_line`: a status line that is not HTTP.

`PARTIAL` is the text the modes that stream some text send before they break.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._hostile_modes import MODES, PARTIAL, Conn, Request

__all__ = ["MODES", "PARTIAL", "Conn", "HostileServer", "Request", "read_request"]

_MAX_HEADER = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


def read_request(sock: socket.socket) -> Request | None:
    """One HTTP request from `sock` (headers, then a Content-Length body), or None."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece or len(data) > _MAX_HEADER:
            return None
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = min(int(headers.get("content-length", "0")), _MAX_BODY)
    except ValueError:
        length = 0
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return Request(parts[0], parts[1], headers, body[:length])


@dataclass
class HostileServer:
    """A server of `mode` (one of `MODES`) on 127.0.0.1; a context manager.

    `size` sets the size of `huge_line` and `gzip_bomb`; `forever` bounds the modes that
    never end (seconds), so a test that fails never leaves a thread behind for long.
    """

    mode: str
    size: int | None = None
    forever: float = 120.0
    requests: list[Request] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; the modes: {', '.join(MODES)}")

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> HostileServer:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler,
                                                 bind_and_activate=False)
        server.daemon_threads = True
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(30)
        try:
            request = read_request(sock)
            if request is None:
                return
            self.requests.append(request)
            conn = Conn(sock, request, self._stop, self.forever, self.size)
            run: Callable[[Conn], Any] = MODES[self.mode]
            run(conn)
        except OSError:
            pass  # the client went away: what a hostile server expects
