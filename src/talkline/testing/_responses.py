"""How the scripted server writes a response: JSON, errors, SSE streams (chunked or not),
and connections cut on purpose."""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ._actions import Error, Reply
from ._render import dumps, sse_comment, sse_event, stream_plan

if TYPE_CHECKING:
    from .server import ScriptedServer, _HTTPServer

__all__ = ["ClientGone", "Responder"]


class ClientGone(Exception):
    """The peer closed the connection, or we cut it on purpose."""


class Responder(BaseHTTPRequestHandler):
    """The writing half of the handler (`Handler` reads and routes)."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    request_id: str

    @property
    def owner(self) -> ScriptedServer:
        return self.server.owner

    def _stream(self, reply: Reply, body: Mapping[str, Any]) -> None:
        plan = stream_plan(reply, body, self.owner.model)
        self._start_stream(reply.headers)
        for chunk in plan.head:
            self._event(chunk, reply)
        for chunk in plan.body:
            if not self.owner.sleep(reply.chunk_delay):
                raise ClientGone
            self._event(chunk, reply)
        for chunk in plan.tail:
            self._event(chunk, reply)
        self._event("[DONE]", reply)
        self._end_stream()

    def _start_stream(self, extra: Mapping[str, str]) -> None:
        self._chunked = self.request_version != "HTTP/1.0"
        self.send_response(200)
        self._headers("text/event-stream; charset=utf-8", extra)
        self.send_header("Cache-Control", "no-cache")
        if self._chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _event(self, obj: Any, reply: Reply) -> None:
        le = self.owner.sse_line_ending
        data = sse_event(obj, le, reply.multiline_data and not isinstance(obj, str))
        if reply.comments:
            data = sse_comment(le) + data
        self._chunk(data)

    def _chunk(self, data: bytes) -> None:
        if self._chunked:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self._write(data)

    def _end_stream(self) -> None:
        if self._chunked:
            self._write(b"0\r\n\r\n")

    # ---- responses ----
    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as e:
            raise ClientGone from e

    def _rst(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()  # drop the makefile references so close() really closes
            except OSError:
                pass
        # handle_one_request() / finish() still flush and close these
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
        sock.close()
        self.close_connection = True
        raise ClientGone

    def _headers(self, content_type: str, extra: Mapping[str, str] | None = None) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", self.request_id)
        self.send_header("openai-version", "2020-10-01")
        self.send_header("openai-processing-ms", "1")
        for name, value in self.owner.limiter.headers().items():
            self.send_header(name, value)
        for name, value in (extra or {}).items():
            self.send_header(name, value)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> None:
        if self.owner.stopping.is_set():
            self.close_connection = True
        self.send_response(status)
        self._headers(content_type, extra)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._write(data)

    def _send_json(self, status: int, obj: Any, extra: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, dumps(obj).encode(), "application/json", extra)

    def _send_error(self, err: Error, counted: bool = False) -> None:
        if counted:
            self.owner.count("429" if err.status == 429 else "errors")
        if err.body is not None:
            self._send_bytes(err.status, err.body.encode(), err.content_type, err.headers)
        else:
            data = dumps({"error": err.error_object()}).encode()
            self._send_bytes(err.status, data, err.content_type, err.headers)
