"""A server that echoes the key back, in every place a server can: the key never comes out.

`EchoServer` is a raw socket server on 127.0.0.1 that controls every byte of its answer
and puts the request's own `Authorization` header (and so the key) into it: a 200 body
that is not JSON, an error event inside a stream, a `data:` line that is not JSON, JSON
and plain-text error bodies, the text of an answer, a redirect's Location. Each case runs
the real `talkline` (`prompt`, `batch run`) and then greps the raw bytes of stdout,
stderr and every file under TALKLINE_HOME (the database and its journal included) and of
the batch results file for the key, in every form a server may echo it (plain, JSON
escaped, percent-encoded), for a key shaped like `sk-...` and for one that is not.

File modes (0600 for everything that holds prompts or answers) are in test_private_files.

The plain-http warning is checked for every command that sends the key: the base URL
names a host that is not this machine over http://, and `HTTP_PROXY` points at the echo
server on 127.0.0.1, so nothing leaves the machine (httpx sends the request to the proxy
without resolving the host).
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pexpect
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .clihelp import SRC, Result

KEYS = [
    pytest.param("sk-test-CANARY-echo-4b7d9e2f10a3c5", id="sk-key"),
    pytest.param("tl/CANARY_odd.key+9f8e7d6c5b4a", id="odd-key"),
]

Respond = Callable[[bytes, bytes], bytes]


def _head(status: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _auth(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "authorization":
            return value.strip()
    return ""


def _sse(*events: str) -> bytes:
    return "".join(f"data: {e}\n\n" for e in events).encode()


def _delta(text: str) -> str:
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": {"content": text},
                                    "finish_reason": None}]})


def _completion(text: str) -> bytes:
    return json.dumps({
        "id": "c1", "object": "chat.completion", "model": "m", "created": 1,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }).encode()


def _streamed(head: bytes) -> bool:
    return b"text/event-stream" in head


# ---- the echo modes: (request head, body) -> the raw answer ----

def text_200(head: bytes, body: bytes) -> bytes:
    """200, text/plain: the whole request head echoed, Authorization included."""
    return _head("200 OK", {"Content-Type": "text/plain"}, b"You sent:\n" + head)


def json_200_echo(head: bytes, body: bytes) -> bytes:
    """A valid answer whose text is the Authorization header."""
    key = _auth(head).partition(" ")[2]
    text = f"Your header was Authorization: {_auth(head)}; your key is {key}, keep it safe"
    if _streamed(head):
        stop = json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        return _head("200 OK", {"Content-Type": "text/event-stream"},
                     _sse(_delta(text), stop, "[DONE]"))
    return _head("200 OK", {"Content-Type": "application/json"}, _completion(text))


def split_echo(head: bytes, body: bytes) -> bytes:
    """The key in 3-character pieces, one stream event each: in the reasoning, then in the
    answer (no single event holds it, so only redaction across events catches it)."""
    key = _auth(head).partition(" ")[2]

    def pieces(text: str, field: str) -> list[str]:
        return [json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                            "choices": [{"index": 0, "delta": {field: text[i:i + 3]},
                                         "finish_reason": None}]})
                for i in range(0, len(text), 3)]

    stop = json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return _head("200 OK", {"Content-Type": "text/event-stream"},
                 _sse(*pieces(f"thinking about {key} now", "reasoning_content"),
                      *pieces(f"your key is {key}, keep it safe", "content"), stop,
                      "[DONE]"))


def error_event(head: bytes, body: bytes) -> bytes:
    """Some text, then an error event naming the key (JSON-escaped, `/` as `\\/`)."""
    key = _auth(head).partition(" ")[2]
    err = json.dumps({"error": {"message": f"key {key} is over quota; header "
                                           f"{_auth(head)}", "type": "server_error",
                                "code": key, "param": key}}).replace("/", "\\/")
    return _head("200 OK", {"Content-Type": "text/event-stream"},
                 _sse(_delta("Partial answer. "), err))


def bad_data_line(head: bytes, body: bytes) -> bytes:
    """A `data:` line that is not JSON, carrying the header."""
    return _head("200 OK", {"Content-Type": "text/event-stream"},
                 _sse(_delta("So far "), f"oops {_auth(head)} oops"))


def error_json(head: bytes, body: bytes) -> bytes:
    """401 with the key in the message, code, param and a header."""
    key = _auth(head).partition(" ")[2]
    err = json.dumps({"error": {"message": f"Incorrect API key provided: {key}.",
                                "type": "invalid_request_error", "code": key, "param": key}})
    return _head("401 Unauthorized", {"Content-Type": "application/json",
                                      "X-Echo": _auth(head), "x-request-id": key},
                 err.encode())


def error_text(head: bytes, body: bytes) -> bytes:
    """500 with a plain-text body: the request head."""
    return _head("500 Internal Server Error", {"Content-Type": "text/plain"}, head)


def error_html(head: bytes, body: bytes) -> bytes:
    """502 from a "proxy" whose page title holds the key, percent-encoded in a link."""
    key = _auth(head).partition(" ")[2]
    page = (f"<html><head><title>Bad gateway for {key}</title></head><body>"
            f"<a href='/retry?k={quote(key, safe='')}'>retry</a></body></html>")
    return _head("502 Bad Gateway", {"Content-Type": "text/html"}, page.encode())


def redirect(head: bytes, body: bytes) -> bytes:
    """302 to a URL carrying the key, percent-encoded, with an echoing body."""
    key = _auth(head).partition(" ")[2]
    return _head("302 Found", {"Location": f"http://127.0.0.1:9/steal?key={quote(key, safe='')}"
                               f"&raw={key}", "Content-Type": "text/plain"},
                 f"moved; you sent {_auth(head)}".encode())


def other_bearer(head: bytes, body: bytes) -> bytes:
    """An error naming a Bearer token that is not ours (another user's, a proxy's)."""
    err = json.dumps({"error": {"message": "upstream refused Authorization: Bearer "
                                           "up-stream-token-77e1c0de5a", "type": "x"}})
    return _head("500 Internal Server Error", {"Content-Type": "application/json"},
                 err.encode())


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        server: EchoServer = self.server  # type: ignore[assignment]
        server.requests.append(head + b"\r\n\r\n" + body)
        sock.sendall(server.respond(head + b"\r\n", body))


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond: Respond = text_200
        self.requests: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    srv = EchoServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def tl(*args: str, home: Path, env: dict[str, str], cwd: Path | None = None,
       timeout: float = 60, umask: int | None = None) -> tuple[Result, float]:
    full = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    full.update(PYTHONPATH=SRC, TALKLINE_HOME=str(home), **env)
    full.pop("COLUMNS", None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "talkline", *args], capture_output=True,
                          text=True, env=full, timeout=timeout, cwd=cwd,
                          preexec_fn=None if umask is None else lambda: _umask(umask))
    return Result(proc.returncode, proc.stdout, proc.stderr), time.monotonic() - start


def _umask(value: int) -> None:
    os.umask(value)


def forms(key: str) -> list[bytes]:
    """Every form in which an echoed key could be written down."""
    escaped = json.dumps(key)[1:-1]
    return sorted({f.encode() for f in (key, escaped, escaped.replace("/", "\\/"),
                                        quote(key, safe=""), quote(key))})


def assert_nowhere(key: str, results: list[Result], *folders: Path) -> None:
    for r in results:
        assert "Traceback" not in r.err, r.err
        for form in forms(key):
            assert form.decode() not in r.out, (form, r.out)
            assert form.decode() not in r.err, (form, r.err)
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                raw = path.read_bytes()
                for form in forms(key):
                    assert form not in raw, (form, path)


# ---- the cases ----

CASES: list[tuple[str, Respond, tuple[str, ...], int, str]] = [
    # (id, mode, extra flags, exit code, what the user sees)
    ("200-text-whole", text_200, ("--no-stream",), 1, "with a body that is not JSON"),
    ("200-text-streamed", text_200, (), 1, "instead of an event stream"),
    ("answer-echo-whole", json_200_echo, ("--no-stream",), 0, "your key is ***, keep"),
    ("answer-echo-streamed", json_200_echo, ("--stream",), 0, "your key is ***, keep"),
    ("answer-echo-split", split_echo, ("--stream",), 0, "***, keep it safe"),
    ("error-event", error_event, (), 1, "is over quota"),
    ("bad-data-line", bad_data_line, (), 1, "a stream event that is not JSON"),
    ("error-json-401", error_json, (), 1, "Incorrect API key provided: ***"),
    ("error-text-500", error_text, (), 1, "HTTP 500"),
    ("error-html-502", error_html, (), 1, "Bad gateway for ***"),
    ("redirect-302", redirect, ("--no-stream",), 1, ""),
    ("redirect-302-streamed", redirect, (), 1, ""),
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("mode", "flags", "code", "seen"),
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_an_echoed_key_is_in_no_output_and_no_file(echo, talkline_home, key, mode, flags,
                                                   code, seen):
    echo.respond = mode
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": echo.url}
    r, took = tl("--retries", "0", *flags, "tell me", home=talkline_home, env=env)
    assert took < 30
    if code:
        assert r.code != 0, r.out
    else:
        assert r.code == 0, r.err
    if mode is error_json:
        assert "Set OPENAI_API_KEY or run: talkline keys set openai" in r.err
    assert seen in r.out + r.err
    history, _ = tl("history", "list", home=talkline_home, env=env)
    assert history.code == 0
    assert_nowhere(key, [r, history], talkline_home)
    assert key.encode() in echo.requests[-1]  # the key was sent: the server had it to echo


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("mode", [text_200, error_event, bad_data_line, error_json,
                                  error_text, error_html, redirect, json_200_echo],
                         ids=lambda m: m.__name__)
def test_batch_results_and_rows_hold_no_echoed_key(echo, talkline_home, tmp_path, key, mode):
    echo.respond = mode
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"q{i}"}) + "\n"
                           for i in range(3)))
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": echo.url}
    r, took = tl("batch", "run", "--retries", "0", str(src), home=talkline_home, env=env)
    assert took < 60
    results = tmp_path / "in.jsonl.results.jsonl"
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    if mode is error_json:  # a refused key stops the run: nothing more is sent
        assert r.code != 0 and "Incorrect API key provided: ***" in r.err
    else:
        assert sorted(x["custom_id"] for x in lines) == ["r0", "r1", "r2"]
    if mode not in (json_200_echo, error_json):
        assert r.code == 1 and all(x.get("error") for x in lines)
    assert_nowhere(key, [r], talkline_home, tmp_path)


def test_a_bearer_token_that_is_not_ours_is_redacted_too(echo, talkline_home):
    echo.respond = other_bearer
    env = {"OPENAI_API_KEY": "sk-test-CANARY-ours-1234567890", "OPENAI_BASE_URL": echo.url}
    r, _ = tl("--retries", "0", "hi", home=talkline_home, env=env)
    assert r.code == 1 and "Bearer ***" in r.err
    assert_nowhere("up-stream-token-77e1c0de5a", [r], talkline_home)


# ---- the plain-http warning, for every command that sends the key ----

REMOTE = "keys.example"  # RFC 2606: reserved, never resolves; the proxy answers for it
WARNING = (f"Warning: sending the API key over plain http:// to {REMOTE}: it travels in "
           "clear text. Use https:// for remote servers.")
KEY = "sk-test-CANARY-plainhttp-8c2a4e6f"


def _commands(tmp: Path) -> list[tuple[str, ...]]:
    src = tmp / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "hi"}) + "\n")
    return [
        ("--retries", "0", "hi"),
        ("--retries", "0", "--no-stream", "hi"),
        ("models",),
        ("batch", "run", "--retries", "0", str(src)),
        ("batch", "submit", str(src)),
        ("batch", "status", "batch_abc"),
        ("batch", "fetch", "-o", str(tmp / "out.jsonl"), "batch_abc"),
        ("batch", "cancel", "batch_abc"),
        ("batch", "list"),
    ]


@pytest.fixture
def proxied(echo: EchoServer) -> dict[str, str]:
    echo.respond = error_json
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"http://{REMOTE}/v1",
            "HTTP_PROXY": f"http://127.0.0.1:{echo.server_address[1]}"}


@pytest.mark.parametrize("index", range(9), ids=["prompt", "prompt-no-stream", "models",
                                                  "batch-run", "batch-submit", "batch-status",
                                                  "batch-fetch", "batch-cancel", "batch-list"])
def test_every_command_that_sends_the_key_warns_about_plain_http(echo, proxied,
                                                                talkline_home, tmp_path,
                                                                index):
    args = _commands(tmp_path)[index]
    r, _ = tl(*args, home=talkline_home, env=proxied)
    assert r.code != 0  # the echo server refuses the key
    assert r.err.count(WARNING) == 1, r.err
    assert echo.requests, "the request went through the proxy"
    assert all(f"{REMOTE}".encode() in req.split(b"\r\n", 1)[0] for req in echo.requests)
    assert_nowhere(KEY, [r], talkline_home)


def test_the_repl_warns_about_plain_http(echo, proxied, talkline_home):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(proxied, PYTHONPATH=SRC, TALKLINE_HOME=str(talkline_home),
               PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm-256color", NO_COLOR="1")
    env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "chat", "--retries", "0"],
                          env=env, encoding="utf-8", timeout=20, dimensions=(40, 200))
    try:
        child.expect_exact("\x1b[?2004h")
        child.sendline("hello")
        child.expect_exact("over plain http://")
        child.expect_exact("Incorrect API key provided: ***")
        child.expect_exact("\x1b[?2004h")
        child.sendline("quit")
        child.expect(pexpect.EOF)
        seen = child.before or ""
    finally:
        child.close()
    assert KEY not in seen
    assert_nowhere(KEY, [], talkline_home)


# ---- the redactor itself ----

def test_answers_keep_prose_and_short_placeholder_keys_errors_lose_every_token():
    from talkline.errors import ServerError, StreamInterrupted
    from talkline.wire.redact import Redactor

    long_key, short_key = "tl/CANARY_odd.key+9f8e7d6c5b4a", "ollama"
    r = Redactor([long_key, short_key])
    answer = r.answer()
    assert answer.text("the bearer of bad news; ollama runs here") == \
        "the bearer of bad news; ollama runs here"
    assert answer.value({"content": f"key {long_key}"}) == {"content": "key ***"}
    assert r.text(f"ollama said Bearer {long_key} and Bearer other-token-123") == \
        "*** said Bearer *** and Bearer ***"
    cause = ServerError(f"refused {long_key}", status=500)
    cause.body = {"error": {"message": long_key}}
    outer = StreamInterrupted(f"Stream interrupted: {long_key}", partial="", cause=cause)
    assert r.error(outer) is outer
    assert long_key not in str(outer) and long_key not in str(cause)
    assert cause.body == {"error": {"message": "***"}}


# Prose around the key of letters it does not hold, so that what a shown key prefix is can
# be told apart from the prose.
_PROSE = st.text(alphabet="xyzw .,!?\n", max_size=40)


@given(_PROSE, _PROSE,
       st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30))
def test_a_secret_in_any_pieces_comes_out_whole_redacted(before, after, sizes):
    from talkline.wire.redact import Redactor, SplitGuard

    key = "sk-test-CANARY-split-0123456789"
    redactor = Redactor([key]).answer()
    text = before + key + after + key
    guard, out, i = SplitGuard(redactor), [], 0
    for size in sizes * 20:
        if i >= len(text):
            break
        out.append(guard.feed(text[i:i + size]))
        i += size
    out.append(guard.feed(text[i:]) + guard.flush())
    joined = "".join(out)
    assert key not in joined
    # Nothing lost, nothing added: the same as the whole text redacted, but for at most
    # HOLD - 1 leading characters of a key shown before its rest became ***.
    shown = "|".join(re.escape(key[:n]) for n in range(SplitGuard.HOLD - 1, 0, -1))
    assert re.sub(f"(?:{shown})\\*\\*\\*", "***", joined) == \
        re.sub(f"(?:{shown})\\*\\*\\*", "***", redactor.text(text))


def test_a_stalled_stream_shows_ordinary_text_at_once() -> None:
    from talkline.wire.redact import Redactor, SplitGuard

    guard = SplitGuard(Redactor(["sk-test-CANARY-stall-0123456789"]).answer())
    assert guard.feed("Still typing this") == "Still typing this"  # "s" begins the key
    assert guard.feed(" and sk-tes") == " and "  # six characters of it: held
    assert guard.feed("t-CANARY-stall-0123456789!") == "***!"
    assert guard.feed("ends in sk") == "ends in sk"
    assert guard.feed("-test-CANARY-stall-0123456789") == "***"  # two shown, the rest hidden
