"""The hostile server's modes: one function per mode, each writing raw bytes to a socket.

See `talkline.testing.hostile` for what each mode does and why.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["MODES", "PARTIAL", "Conn", "Request"]

PARTIAL = "The first part of the answer"
REDIRECT_TO = "http://127.0.0.1:9/v1/chat/completions"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def stream(self) -> bool:
        body = self.json
        return isinstance(body, dict) and body.get("stream") is True

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


class Conn:
    """One connection: the request read, helpers to write the answer's bytes."""

    def __init__(self, sock: socket.socket, request: Request, stop: threading.Event,
                 forever: float, size: int | None) -> None:
        self.sock, self.request, self.stop = sock, request, stop
        self.forever, self.size = forever, size

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int = 200, headers: dict[str, str] | None = None,
             reason: str = "OK") -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def body(self, status: int, data: bytes, content_type: str = "application/json",
             extra: dict[str, str] | None = None, reason: str = "OK") -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(data)),
                   "Connection": "close", **(extra or {})}
        self.head(status, headers, reason)
        self.send(data)

    def json(self, obj: Any, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self.body(status, json.dumps(obj).encode(), extra=extra)

    def sse_head(self) -> None:
        self.head(200, {"Content-Type": "text/event-stream", "Connection": "close"})

    def event(self, obj: Any) -> None:
        self.send(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
                  + b"\n\n")

    def until_gone(self, piece: bytes, every: float) -> None:
        """Send `piece` every `every` seconds until the client leaves (bounded)."""
        end = time.monotonic() + self.forever
        while time.monotonic() < end and not self.stop.is_set():
            self.send(piece)
            time.sleep(every)

    def silence(self) -> None:
        end = time.monotonic() + self.forever
        self.sock.settimeout(0.2)
        while time.monotonic() < end and not self.stop.is_set():
            try:
                if self.sock.recv(1) == b"":
                    return  # the client closed
            except TimeoutError:
                continue

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def completion(content: Any = "Hello from the hostile server.", **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-hostile", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    out.update(over)
    return out


def chunk(content: str | None = None, finish: str | None = None, **over: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    out: dict[str, Any] = {
        "id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    out.update(over)
    return out


def answer(c: Conn, content: Any = "Hello from the hostile server.", **over: Any) -> None:
    """A valid answer of the kind asked for (a stream or one JSON body)."""
    if c.request.stream:
        c.sse_head()
        c.event(chunk(content, **over))
        c.event(chunk(None, "stop", **over))
        c.event(b"[DONE]")
    else:
        c.json(completion(content, **over))


def _error(message: str, type_: str = "server_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


# ---------------------------------------------------------------- secrets


def echo_auth_text(c: Conn) -> None:
    c.body(200, f"You sent {c.request.authorization}, thanks.".encode(), "text/plain")


def echo_auth_error_event(c: Conn) -> None:
    c.sse_head()
    c.event(_error(f"Bad credentials: {c.request.authorization}", "invalid_request_error"))


def echo_auth_data_line(c: Conn) -> None:
    c.sse_head()
    c.event(f"not json, auth was {c.request.authorization}".encode())
    c.event(chunk(None, "stop"))
    c.event(b"[DONE]")


def echo_auth_error_json(c: Conn) -> None:
    c.json(_error(f"Incorrect API key provided: {c.request.authorization}",
                  "invalid_request_error"), status=401)


# ---------------------------------------------------------------- hangs, sizes


def drip(c: Conn) -> None:
    c.sse_head()
    c.until_gone(b":", 1.0)


def keepalive_forever(c: Conn) -> None:
    c.sse_head()
    c.until_gone(b": keep-alive\n\n", 0.5)


def headers_then_silence(c: Conn) -> None:
    c.sse_head()
    c.silence()


def huge_line(c: Conn) -> None:
    size = c.size or 100 * _MB
    c.sse_head()
    c.send(b'data: {"choices": [{"index": 0, "delta": {"content": "')
    piece = b"x" * _MB
    for _ in range(max(1, size // _MB)):
        c.send(piece)
    c.send(b'"}, "finish_reason": null}]}\n\n')
    c.event(chunk(None, "stop"))
    c.event(b"[DONE]")


@cache
def gzip_bomb_body(size: int) -> bytes:
    """A gzip body of about size/1000 bytes that expands to `size` bytes of spaces and a
    valid completion: each MiB of spaces is one identical, fully flushed deflate piece."""
    spaces = b" " * _MB
    tail = json.dumps(completion("The bomb's answer.")).encode()
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = z.compress(spaces) + z.flush(zlib.Z_FULL_FLUSH)
    count = max(1, size // _MB)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(spaces, crc)
    crc = zlib.crc32(tail, crc)
    end = z.compress(tail) + z.flush()
    total = (count * _MB + len(tail)) & 0xFFFFFFFF
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + piece * count + end
            + struct.pack("<II", crc, total))


def gzip_bomb(c: Conn) -> None:
    c.body(200, gzip_bomb_body(c.size or 1024 * _MB), extra={"Content-Encoding": "gzip"})


def retry_after_huge(c: Conn) -> None:
    c.json(_error("Rate limit reached. Please try again later.", "requests"), status=429,
           extra={"Retry-After": "99999"})


def endless_body(c: Conn) -> None:
    c.head(200, {"Content-Type": "application/json", "Connection": "close"})
    c.until_gone(b" " * 1024, 0.05)


# ---------------------------------------------------------------- crashes


def lone_surrogate(c: Conn) -> None:
    answer(c, "bad \ud800 text")  # json.dumps writes the escape \ud800


def bad_utf8(c: Conn) -> None:
    c.body(200, b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "'
           b'\xff\xfe\xc3"}, "finish_reason": "stop"}]}')


def deep_nesting(c: Conn) -> None:
    c.body(200, b"[" * 100_000 + b"]" * 100_000)


def _shape(**over: Any) -> Callable[[Conn], None]:
    def mode(c: Conn) -> None:
        c.json(completion(**over))

    return mode


def _choice(**over: Any) -> list[dict[str, Any]]:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": "hi"},
                              "finish_reason": "stop"}
    choice.update(over)
    return [choice]


def _usage(v: Any) -> dict[str, Any]:
    return {"prompt_tokens": v, "completion_tokens": v, "total_tokens": v}


def stream_choices_string(c: Conn) -> None:
    c.sse_head()
    c.event(chunk("ok", choices="x"))
    c.event(chunk(None, "stop"))
    c.event(b"[DONE]")


def _models(data: Any) -> Callable[[Conn], None]:
    def mode(c: Conn) -> None:
        c.json({"object": "list", "data": data})

    return mode


def binary_garbage(c: Conn) -> None:
    c.send(os.urandom(4096))


# ---------------------------------------------------------------- wrong answers


def _redirect(status: int, with_body: bool) -> Callable[[Conn], None]:
    def mode(c: Conn) -> None:
        headers = {"Location": REDIRECT_TO}
        if not with_body:
            c.body(status, b"", "text/plain", headers, reason="Moved")
        elif c.request.stream:
            c.head(status, {"Content-Type": "text/event-stream", "Connection": "close",
                            **headers}, reason="Moved")
            c.event(chunk("Answer from a redirect"))
            c.event(chunk(None, "stop"))
            c.event(b"[DONE]")
        else:
            c.body(status, json.dumps(completion("Answer from a redirect")).encode(),
                   extra=headers, reason="Moved")

    return mode


def json_error_to_stream(c: Conn) -> None:
    c.json(_error("The model is overloaded: the hostile server says so."))


def html_to_stream(c: Conn) -> None:
    c.body(200, b"<html><body>Gateway says hello</body></html>", "text/html")


def empty_choices(c: Conn) -> None:
    if c.request.stream:
        c.sse_head()
        c.event(chunk(choices=[]))
        c.event(b"[DONE]")
    else:
        c.json(completion(choices=[]))


def _partial_stream(c: Conn) -> None:
    c.sse_head()
    words = PARTIAL.split(" ")
    for i, word in enumerate(words):
        c.event(chunk(word + (" " if i < len(words) - 1 else "")))


def text_then_error_event(c: Conn) -> None:
    _partial_stream(c)
    c.event(_error("The server broke down mid-answer."))


def reset_mid_stream(c: Conn) -> None:
    _partial_stream(c)
    time.sleep(0.1)
    c.reset()


def bad_chunked(c: Conn) -> None:
    c.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                 "Connection": "close"})
    c.send(b"zz\r\nhello\r\n0\r\n\r\n")


def short_body(c: Conn) -> None:
    c.head(200, {"Content-Type": "application/json", "Content-Length": "1000",
                 "Connection": "close"})
    c.send(b'{"choices": [')


def close_at_once(c: Conn) -> None:
    c.sock.close()


def bad_status_line(c: Conn) -> None:
    c.send(b"HELLO THERE\r\n\r\n")


MODES: dict[str, Callable[[Conn], None]] = {
    "echo_auth_text": echo_auth_text,
    "echo_auth_error_event": echo_auth_error_event,
    "echo_auth_data_line": echo_auth_data_line,
    "echo_auth_error_json": echo_auth_error_json,
    "drip": drip,
    "keepalive_forever": keepalive_forever,
    "headers_then_silence": headers_then_silence,
    "huge_line": huge_line,
    "gzip_bomb": gzip_bomb,
    "retry_after_huge": retry_after_huge,
    "endless_body": endless_body,
    "lone_surrogate": lone_surrogate,
    "bad_utf8": bad_utf8,
    "deep_nesting": deep_nesting,
    "choices_not_list": _shape(choices={"0": "x"}),
    "choice_not_object": _shape(choices=["x"]),
    "message_string": _shape(choices=_choice(message="hi")),
    "usage_number": _shape(usage=12),
    "tokens_strings": _shape(usage=_usage("12")),
    "tokens_huge": _shape(usage=_usage(1e308)),
    "tokens_negative": _shape(usage=_usage(-5)),
    "index_string": _shape(choices=_choice(index="0")),
    "stream_choices_string": stream_choices_string,
    "models_data_not_list": _models({"id": "gpt-4o"}),
    "models_data_null": _models(None),
    "binary_garbage": binary_garbage,
    **{f"redirect_{s}": _redirect(s, False) for s in (301, 302, 307, 308)},
    **{f"redirect_{s}_body": _redirect(s, True) for s in (301, 302, 307, 308)},
    "json_error_to_stream": json_error_to_stream,
    "html_to_stream": html_to_stream,
    "empty_choices": empty_choices,
    "text_then_error_event": text_then_error_event,
    "reset_mid_stream": reset_mid_stream,
    "bad_chunked": bad_chunked,
    "short_body": short_body,
    "close_at_once": close_at_once,
    "bad_status_line": bad_status_line,
}
