"""Every endpoint goes through the one wire: the plain-http warning and key redaction hold
for chat, models, files and batches alike.

Nothing leaves the machine. The base URL names a host that is not this machine
(`keys.example`, a reserved name that never resolves) over plain http://; the connection's
own transport hook (`ToLoopback`, an httpx transport) records each request and sends it
to a real HTTP server on 127.0.0.1 instead, and refuses any other host outright. The
warning is decided from the URL alone, before the first request is handed to the
transport. The server answers every request with a 401 that echoes the key it was sent,
as OpenAI's does, so each error text must show the key redacted.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from talkline.backends.base import ChatRequest
from talkline.backends.remote import AsyncRemoteBackend, RemoteBackend
from talkline.batch import BatchAPI
from talkline.errors import APIError, AuthenticationError
from talkline.testing import ScriptedServer
from talkline.types import ChatParams, Message
from talkline.wire.connection import Connection
from talkline.wire.plain_http import plain_http_warning
from talkline.wire.redact import Redactor

REMOTE = "keys.example"  # RFC 2606: reserved, never resolves
BASE_URL = f"http://{REMOTE}/v1"
WARNING = (
    f"Warning: sending the API key over plain http:// to {REMOTE}: it travels in clear "
    "text. Use https:// for remote servers."
)
KEYS = [
    pytest.param("sk-test-wire-endpoints-0123456789", id="sk-key"),
    pytest.param("test/odd+key=shape.9876543210", id="odd-key"),
]


class _EchoKey(BaseHTTPRequestHandler):
    """401 for everything, the key it got echoed in the message, a field and a header;
    the JSON escapes `/` as `\\/` (legal, and some servers do)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        key = auth.partition(" ")[2]
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))  # type: ignore[attr-defined]
        error = {"message": f"Incorrect API key provided: {key}. You sent: {auth}",
                 "type": "invalid_request_error", "param": key, "code": "invalid_api_key"}
        body = json.dumps({"error": error}).replace("/", "\\/").encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo", key)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _to_loopback(request: httpx.Request, port: int, events: list[str]) -> None:
    if request.url.host != REMOTE:  # nothing else may be sent anywhere
        raise RuntimeError(f"unexpected host {request.url.host!r}")
    events.append("request")
    request.url = request.url.copy_with(host="127.0.0.1", port=port)


class ToLoopback(httpx.HTTPTransport):
    def __init__(self, port: int, events: list[str]) -> None:
        super().__init__()
        self.port, self.events = port, events

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _to_loopback(request, self.port, self.events)
        return super().handle_request(request)


class AsyncToLoopback(httpx.AsyncHTTPTransport):
    def __init__(self, port: int, events: list[str]) -> None:
        super().__init__()
        self.port, self.events = port, events

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _to_loopback(request, self.port, self.events)
        return await super().handle_async_request(request)


def _hook(events: list[str], said: list[str]) -> Any:
    def on_warning(text: str) -> None:
        events.append("warning")
        said.append(text)

    return on_warning


def _assert_redacted(err: APIError, key: str) -> None:
    text = str(err)
    assert key not in text and key not in repr(err.body) and key not in repr(err.headers)
    assert key.replace("/", "\\/") not in repr(err.body)
    assert "Incorrect API key provided: ***" in text and "Bearer ***" in text
    assert err.body["error"]["param"] == "***" and err.headers["x-echo"] == "***"


def _chat_request() -> ChatRequest:
    return ChatRequest((Message("user", "hi"),), ChatParams(model="gpt-4o-mini"))


@pytest.mark.parametrize("key", KEYS)
def test_chat_warns_before_sending_and_redacts_the_key(echo: ThreadingHTTPServer,
                                                       key: str) -> None:
    events: list[str] = []
    said: list[str] = []
    backend = RemoteBackend(BASE_URL, key, on_warning=_hook(events, said),
                            transport=ToLoopback(echo.server_address[1], events))
    try:
        assert events == []  # nothing happens until a request is sent
        with pytest.raises(AuthenticationError) as whole:
            backend.complete(_chat_request())
        with pytest.raises(AuthenticationError) as streamed:
            list(backend.stream(_chat_request()))
    finally:
        backend.close()
    assert events == ["warning", "request", "request"]  # once per connection, first
    assert said == [WARNING]
    assert [(m, p, h) for m, p, h in echo.seen] == [  # type: ignore[attr-defined]
        ("POST", "/v1/chat/completions", REMOTE)] * 2
    for info in (whole, streamed):
        _assert_redacted(info.value, key)


@pytest.mark.parametrize("key", KEYS)
def test_models_warns_before_sending_and_redacts_the_key(echo: ThreadingHTTPServer,
                                                         key: str) -> None:
    events: list[str] = []
    said: list[str] = []
    port = echo.server_address[1]
    sync = RemoteBackend(BASE_URL, key, on_warning=_hook(events, said),
                         transport=ToLoopback(port, events))
    try:
        with pytest.raises(AuthenticationError) as info:
            sync.models()
    finally:
        sync.close()
    _assert_redacted(info.value, key)

    async def twin() -> APIError:
        backend = AsyncRemoteBackend(BASE_URL, key, on_warning=_hook(events, said),
                                     transport=AsyncToLoopback(port, events))
        try:
            with pytest.raises(AuthenticationError) as got:
                await backend.models()
            return got.value
        finally:
            await backend.aclose()

    _assert_redacted(asyncio.run(twin()), key)
    assert events == ["warning", "request"] * 2  # each connection warns once, first
    assert said == [WARNING, WARNING]
    assert [p for _, p, _ in echo.seen] == ["/v1/models"] * 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", KEYS)
def test_files_warn_before_sending_and_redact_the_key(echo: ThreadingHTTPServer, key: str,
                                                      tmp_path: Path) -> None:
    events: list[str] = []
    said: list[str] = []
    path = tmp_path / "in.jsonl"
    path.write_text('{"custom_id": "a"}\n')
    with BatchAPI(BASE_URL, key, on_warning=_hook(events, said), retries=0,
                  transport=ToLoopback(echo.server_address[1], events)) as api:
        with pytest.raises(AuthenticationError) as upload:
            api.upload(path)
        with pytest.raises(AuthenticationError) as download:
            api.download("file-abc", io.BytesIO())
    assert events == ["warning", "request", "request"]
    assert said == [WARNING]
    assert [(m, p) for m, p, _ in echo.seen] == [  # type: ignore[attr-defined]
        ("POST", "/v1/files"), ("GET", "/v1/files/file-abc/content")]
    for info in (upload, download):
        _assert_redacted(info.value, key)


@pytest.mark.parametrize("key", KEYS)
def test_batches_warn_before_sending_and_redact_the_key(echo: ThreadingHTTPServer,
                                                        key: str) -> None:
    events: list[str] = []
    said: list[str] = []
    with BatchAPI(BASE_URL, key, on_warning=_hook(events, said), retries=0,
                  transport=ToLoopback(echo.server_address[1], events)) as api:
        failures = []
        for call in (lambda: api.create("file-abc"), lambda: api.retrieve("batch_1"),
                     lambda: api.list_batches(), lambda: api.cancel("batch_1")):
            with pytest.raises(AuthenticationError) as info:
                call()
            failures.append(info.value)
    assert events == ["warning"] + ["request"] * 4
    assert said == [WARNING]
    assert [(m, p.split("?")[0]) for m, p, _ in echo.seen] == [  # type: ignore[attr-defined]
        ("POST", "/v1/batches"), ("GET", "/v1/batches/batch_1"), ("GET", "/v1/batches"),
        ("POST", "/v1/batches/batch_1/cancel")]
    for err in failures:
        _assert_redacted(err, key)


# ------------------------------------------------------------- the pure parts, and loopback


@pytest.mark.parametrize("url, key, warns", [
    ("http://keys.example/v1", "sk-test-1", True),
    ("HTTP://Keys.Example:8080/v1", "sk-test-1", True),
    ("http://10.0.0.7:11434/v1", "sk-test-1", True),
    ("http://[2001:db8::1]:8000/v1", "sk-test-1", True),
    ("https://keys.example/v1", "sk-test-1", False),
    ("http://keys.example/v1", None, False),
    ("http://keys.example/v1", "", False),
    ("http://127.0.0.1:8080/v1", "sk-test-1", False),
    ("http://127.1.2.3/v1", "sk-test-1", False),
    ("http://[::1]:8080/v1", "sk-test-1", False),
    ("http://localhost:11434/v1", "sk-test-1", False),
    ("http://LOCALHOST./v1", "sk-test-1", False),
    ("http://ollama.localhost/v1", "sk-test-1", False),
    ("http://[not-a-host/v1", "sk-test-1", False),
])
def test_the_warning_is_a_function_of_the_url(url: str, key: str | None, warns: bool) -> None:
    warning = plain_http_warning(url, key)
    assert (warning is not None) == warns
    if warning:
        assert "clear text" in warning and "Use https://" in warning


def test_no_warning_to_loopback_and_the_key_still_redacted(server: ScriptedServer) -> None:
    from talkline.testing import Error

    key = "sk-test-loopback-echo-4444"
    said: list[str] = []
    server.script(Error(401, f"Incorrect API key provided: {key}", "invalid_request_error",
                        "invalid_api_key"))
    backend = RemoteBackend(server.url, key, on_warning=said.append)
    try:
        with pytest.raises(AuthenticationError) as info:
            backend.complete(_chat_request())
        assert backend.models() == sorted(server.models)
    finally:
        backend.close()
    assert said == []
    assert key not in str(info.value) and "***" in str(info.value)


def test_without_a_hook_the_warning_goes_to_the_talkline_wire_logger(
        echo: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    conn = Connection(BASE_URL, "sk-test-logger-1234",
                      transport=ToLoopback(echo.server_address[1], events))
    try:
        with caplog.at_level(logging.WARNING, logger="talkline.wire"):
            for _ in range(2):
                with pytest.raises(AuthenticationError):
                    conn.send("GET", "models")
    finally:
        conn.close()
    assert [r.getMessage() for r in caplog.records if r.name == "talkline.wire"] == [WARNING]


def test_redaction_covers_every_form_a_server_echoes() -> None:
    key = 'odd/key+with "quotes"=0123'
    r = Redactor([key])
    for form in (key, json.dumps(key)[1:-1], json.dumps(key)[1:-1].replace("/", "\\/"),
                 "odd%2Fkey%2Bwith%20%22quotes%22%3D0123"):
        assert r.text(f"got <{form}>") == "got <***>", form
    assert r.value({"a": [key, {"b": key}], key: 1}) == {"a": ["***", {"b": "***"}], "***": 1}
    assert Redactor(["abc"]).text("abc") == "abc"  # too short to be a secret
    assert Redactor([None, ""]).text("anything") == "anything"


def test_a_root_path_drops_the_v1() -> None:
    conn = Connection("http://127.0.0.1:8080/v1/", None)
    try:
        assert conn.url("tokenize", root=True) == "http://127.0.0.1:8080/tokenize"
        assert conn.url("models") == "http://127.0.0.1:8080/v1/models"
    finally:
        conn.close()


def test_sharded_pools_hand_out_the_least_busy_client(server: ScriptedServer) -> None:
    from talkline.batch import ShardedBackend
    from talkline.wire.pools import ClientPools

    pools = ClientPools(server.url, {}, max_connections=6, shard_size=2)
    try:
        assert pools.size == 3
        with pools.lease() as a, pools.lease() as b, pools.lease() as c:
            assert len({id(a), id(b), id(c)}) == 3
            with pools.lease() as d:
                assert d is a  # all equally busy: the first
        with pools.lease() as again:
            assert again is a
    finally:
        asyncio.run(pools.aclose())

    async def answers() -> list[str]:
        backend = ShardedBackend(server.url, "sk-test-shards", max_connections=20)
        try:
            assert backend.shards == 3  # ceil(20 / 8)
            got = await asyncio.gather(*(backend.complete(ChatRequest(
                (Message("user", f"q{i}"),), ChatParams(model="gpt-4o-mini")))
                for i in range(12)))
            return [r.content or "" for r in got]
        finally:
            await backend.aclose()

    assert sorted(asyncio.run(answers())) == sorted(f"Echo: q{i}" for i in range(12))
