"""Hangs and unbounded resources (issue #13): a server that controls every byte cannot
freeze talkline, run it past its deadline, or make it spend memory it refuses anyway.

Each case runs the real program as a child process against a raw-socket server on
127.0.0.1 and asserts the exit code, the time, the child's peak memory (its own
`VmHWM`, written when it exits), the message naming the fix, no traceback, and the key
in no output. Bounds stated here: every refusal within 8 s (the machine is shared), a
child's peak RSS under 120 MB while refusing 100 MB or 1 GiB.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .clihelp import SRC

KEY = "sk-test-CANARY-limits-7f3a9c"
ODD_KEY = "CANARYodd-key-without-prefix-51d2"  # a key not shaped like sk-...
TIME_BOUND = 8.0
RSS_BOUND_MB = 120
MB = 1024 * 1024

Mode = Callable[[socket.socket, bytes], None]


class RawServer:
    """An HTTP/1.1 server of one socket per request; `mode(conn, request)` writes every
    byte of the answer. `requests` counts the requests received."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                part = conn.recv(65536)
                if not part:
                    return
                data += part
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            try:
                self.mode(conn, head + b"\r\n\r\n" + body)
            except OSError:
                pass  # the client went away: what a refusal looks like from here

    def close(self) -> None:
        self._stop = True
        self._sock.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Mode], RawServer]]:
    made: list[RawServer] = []

    def make(mode: Mode) -> RawServer:
        made.append(RawServer(mode))
        return made[-1]

    yield make
    for srv in made:
        srv.close()


def _headers(conn: socket.socket, status: str = "200 OK", **extra: str) -> None:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def _chunk(text: str) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _completion(text: str) -> bytes:
    return json.dumps({
        "id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }).encode()


class Run:
    def __init__(self, code: int, out: str, err: str, seconds: float, rss_mb: float) -> None:
        self.code, self.out, self.err, self.seconds, self.rss_mb = code, out, err, seconds, rss_mb


# The child's own peak RSS (VmHWM, in kB) as it exits: ru_maxrss would carry over the
# forking test process's peak across exec on Linux.
_WRAPPER = (
    "import os, runpy\n"
    "try:\n"
    "    runpy.run_module('talkline', run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    peak = [line.split()[1] for line in open('/proc/self/status')\n"
    "            if line.startswith('VmHWM:')]\n"
    "    with open(os.environ['LIMITS_RSS_OUT'], 'w') as f:\n"
    "        f.write(peak[0] if peak else '0')\n"
)


def talkline(tmp_path: Path, url: str, *args: str, key: str = KEY,
             stdin: bytes | None = None, config: str = "") -> Run:
    """The real program in a child process; its peak RSS read from itself as it exits."""
    rss_file = tmp_path / "rss.txt"
    home = Path(os.environ["TALKLINE_HOME"])
    if config:
        (home / "config.toml").write_text(config, encoding="utf-8")
    env = dict(os.environ, OPENAI_API_KEY=key, OPENAI_BASE_URL=url,
               LIMITS_RSS_OUT=str(rss_file),
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], input=stdin,
                          capture_output=True, env=env, timeout=60)
    seconds = time.monotonic() - started
    rss_kb = int(rss_file.read_text()) if rss_file.exists() else 0
    assert rss_kb > 0, "the child did not report its peak memory"
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"),
               proc.stderr.decode("utf-8", "replace"), seconds, rss_kb / 1024)


def _clean(r: Run, key: str = KEY) -> None:
    assert "Traceback" not in r.err, r.err
    assert key not in r.out and key not in r.err
    home = Path(os.environ["TALKLINE_HOME"])
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def _stored_statuses() -> list[str]:
    import sqlite3

    from talkline.settings import Paths

    db = Paths.resolve().database
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        rows = con.execute("select status from messages where role = 'assistant'").fetchall()
    return [r[0] for r in rows]


# -- Retry-After: 99999 ------------------------------------------------------------------


def _too_long_429(conn: socket.socket, request: bytes) -> None:
    body = json.dumps({"error": {"message": "Rate limit reached for requests",
                                 "type": "requests", "code": "rate_limit_exceeded"}}).encode()
    _headers(conn, "429 Too Many Requests", Retry_After="99999",
             Content_Type="application/json", Content_Length=str(len(body)))
    conn.sendall(body)


@pytest.mark.parametrize("key", [KEY, ODD_KEY])
def test_retry_after_99999_ends_a_prompt_at_once_with_when_to_try_again(
        tmp_path: Path, raw: Callable[[Mode], RawServer], key: str) -> None:
    srv = raw(_too_long_429)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "hello", key=key)
    assert r.code == 1, r.err
    assert r.seconds < TIME_BOUND
    assert "try again then" in r.err
    assert srv.requests == 1  # the policy gave up without waiting
    _clean(r, key)


def test_retry_after_99999_does_not_freeze_a_batch(tmp_path: Path,
                                                    raw: Callable[[Mode], RawServer]) -> None:
    srv = raw(_too_long_429)
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"q {i}"}) + "\n"
                             for i in range(5)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = talkline(tmp_path, srv.url, "batch", "run", str(lines), "-o", str(out),
                 "-m", "gpt-4o-mini", "--max-tokens", "5")
    assert r.seconds < TIME_BOUND * 2, r.err
    assert r.code != 0, r.err
    _clean(r)


def test_a_refused_retry_after_pauses_no_bucket_and_the_next_call_goes_through(
        raw: Callable[[Mode], RawServer]) -> None:
    """The REPL's case: one client, a 429 asking for 99999 s, then the next question."""
    from talkline.client import Client
    from talkline.errors import RateLimitError

    answers = iter([_too_long_429])

    def mode(conn: socket.socket, request: bytes) -> None:
        step = next(answers, None)
        if step is not None:
            step(conn, request)
            return
        body = _completion("fine")
        _headers(conn, Content_Type="application/json", Content_Length=str(len(body)))
        conn.sendall(body)

    srv = raw(mode)
    with Client(api_key=KEY, base_url=srv.url, model="gpt-4o-mini") as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            client.complete("first")
        reply = client.complete("second")
        other = client.complete("third", model="gpt-4.1-mini")
    assert reply.content == "fine" and other.content == "fine"
    assert time.monotonic() - started < TIME_BOUND


def test_a_pause_is_never_longer_than_the_policy_would_wait() -> None:
    from talkline.client._core import Core
    from talkline.errors import RateLimitError
    from talkline.ratelimit import RateLimiter
    from talkline.retry import RetryPolicy
    from talkline.settings import Settings

    settings = Settings(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    core = Core(settings, api_key=None, base_url=None, model=None, retries=None,
                fallbacks=None, retry_policy=RetryPolicy(max_server_wait=30),
                rate_limiter=RateLimiter(), timeouts=None, on_retry=None, on_fallback=None,
                rand=lambda: 0.5)
    request = core.request((), settings.params.merge(model="gpt-4o-mini"), "gpt-4o-mini")
    key = core.limiter_key("gpt-4o-mini")
    core.note_failure(request, RateLimitError("slow down", status=429,
                                              headers={"retry-after": "99999"}))
    assert core.limiter.reserve(key, 1).delay == 0  # refused by the policy: no pause at all
    core.note_failure(request, RateLimitError("slow down", status=429,
                                              headers={"retry-after": "20"}))
    assert 0 < core.limiter.reserve(key, 1).delay <= 20


# -- the deadline ------------------------------------------------------------------------


def _drip(conn: socket.socket, request: bytes) -> None:
    _headers(conn, Content_Type="text/event-stream")
    conn.sendall(_chunk("Hello"))
    for byte in _chunk(" world, very slowly" * 50):
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def _comments_only(conn: socket.socket, request: bytes) -> None:
    _headers(conn, Content_Type="text/event-stream")
    for _ in range(2000):
        conn.sendall(b": keep-alive\n\n")
        time.sleep(0.1)


def _slow_body(conn: socket.socket, request: bytes) -> None:
    body = _completion("a whole answer")
    _headers(conn, Content_Type="application/json", Content_Length=str(len(body)))
    for byte in body:
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


@pytest.mark.parametrize(("mode", "args"), [
    (_drip, ()), (_comments_only, ()), (_slow_body, ("--no-stream",)),
], ids=["drip", "comments-only", "slow-body"])
def test_the_deadline_ends_a_request_that_never_finishes(
        tmp_path: Path, raw: Callable[[Mode], RawServer], mode: Mode,
        args: tuple[str, ...]) -> None:
    srv = raw(mode)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "--deadline", "2", "--retries", "3",
                 *args, "hello")
    assert r.code == 1, r.err
    assert 1.5 < r.seconds < 2 + TIME_BOUND / 2, r.err
    assert "deadline" in r.err and "--deadline" in r.err
    assert srv.requests == 1  # the deadline covers every attempt: none after it
    assert "complete" not in _stored_statuses()
    _clean(r)


def test_a_call_with_no_deadline_of_its_own_still_ends(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    """The models list (like the Batch API's calls) carries no request deadline: the
    `deadline` setting bounds it, so a server dripping its answer cannot hold it forever."""
    srv = raw(_slow_body)
    r = talkline(tmp_path, srv.url, "models", config="deadline = 2\n")
    assert r.code == 1, r.err
    assert 1.5 < r.seconds < 2 + TIME_BOUND / 2, r.err
    assert "deadline" in r.err
    _clean(r)


def test_the_deadline_is_read_from_config_and_covers_the_retries(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    def reset(conn: socket.socket, request: bytes) -> None:
        _headers(conn, "503 Service Unavailable", Retry_After="1", Content_Length="0")

    srv = raw(reset)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "--retries", "50", "hello",
                 config="deadline = 2.5\n")
    assert r.code == 1, r.err
    assert r.seconds < 2.5 + TIME_BOUND / 2
    assert 2 <= srv.requests <= 4
    assert "--deadline" in r.err
    _clean(r)


def test_a_wrong_deadline_is_refused_with_the_fix(tmp_path: Path) -> None:
    r = talkline(tmp_path, "http://127.0.0.1:9/v1", "--deadline", "0", "hello")
    assert r.code != 0
    assert "deadline" in r.err and "--deadline 600" in r.err
    _clean(r)


def test_slow_models_get_the_catalogs_longer_deadline() -> None:
    from talkline.cli.flags import RequestFlags

    pro = RequestFlags.parse({"model": "o3-pro"}).settings()
    mini = RequestFlags.parse({"model": "gpt-4o-mini"}).settings()
    given = RequestFlags.parse({"model": "o3-pro", "deadline": 30.0}).settings()
    assert pro.deadline == 1800
    assert mini.deadline == 600
    assert given.deadline == 30


# -- size limits -------------------------------------------------------------------------


def _huge_line(conn: socket.socket, request: bytes) -> None:
    _headers(conn, Content_Type="text/event-stream")
    conn.sendall(b"data: ")
    block = b"x" * MB
    for _ in range(100):
        conn.sendall(block)
    conn.sendall(b"\n\n")


def _gzip_bomb(conn: socket.socket, request: bytes) -> None:
    _headers(conn, Content_Type="application/json", Content_Encoding="gzip")
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * MB
    for _ in range(1024):  # 1 GiB once decompressed, about 1 MB on the wire
        conn.sendall(packer.compress(zeros))
    conn.sendall(packer.flush())


def test_a_100_mb_stream_line_is_refused_fast_and_small(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    srv = raw(_huge_line)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "hello")
    assert r.code == 1, r.err
    assert r.seconds < TIME_BOUND
    assert r.rss_mb < RSS_BOUND_MB, r.rss_mb
    assert "max_event_bytes" in r.err
    assert srv.requests == 1  # a size limit is never retried
    assert "complete" not in _stored_statuses()
    _clean(r)


def test_a_gzip_bomb_is_refused_at_the_body_limit(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    srv = raw(_gzip_bomb)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "--no-stream", "hello")
    assert r.code == 1, r.err
    assert r.seconds < TIME_BOUND
    assert r.rss_mb < RSS_BOUND_MB, r.rss_mb
    assert "max_body_bytes" in r.err
    assert srv.requests == 1
    _clean(r)


def test_the_body_limit_is_configurable(tmp_path: Path,
                                        raw: Callable[[Mode], RawServer]) -> None:
    def big(conn: socket.socket, request: bytes) -> None:
        body = _completion("y" * 5000)
        _headers(conn, Content_Type="application/json", Content_Length=str(len(body)))
        conn.sendall(body)

    srv = raw(big)
    r = talkline(tmp_path, srv.url, "--no-stream", "hello", config="max_body_bytes = 4096\n")
    assert r.code == 1 and "max_body_bytes" in r.err, r.err
    r = talkline(tmp_path, srv.url, "--no-stream", "hello", config="max_body_bytes = 65536\n")
    assert r.code == 0 and "y" * 5000 in r.out, r.err


def test_100_mb_on_stdin_is_refused_before_it_is_read(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    srv = raw(_too_long_429)
    r = talkline(tmp_path, srv.url, "-m", "gpt-4o-mini", "summarise", stdin=b"z" * (100 * MB))
    assert r.code == 2, r.err
    assert r.seconds < TIME_BOUND
    assert r.rss_mb < RSS_BOUND_MB, r.rss_mb
    assert "max_stdin_bytes" in r.err
    assert srv.requests == 0  # nothing was sent
    _clean(r)


def test_stdin_under_a_configured_limit_goes_through_and_over_it_does_not(
        tmp_path: Path, raw: Callable[[Mode], RawServer]) -> None:
    def ok(conn: socket.socket, request: bytes) -> None:
        body = _completion("read it")
        _headers(conn, Content_Type="application/json", Content_Length=str(len(body)))
        conn.sendall(body)

    srv = raw(ok)
    config = "max_stdin_bytes = 100\n"
    r = talkline(tmp_path, srv.url, "--no-stream", "hi", stdin=b"a" * 100, config=config)
    assert r.code == 0, r.err
    r = talkline(tmp_path, srv.url, "--no-stream", "hi", stdin=b"a" * 101, config=config)
    assert r.code == 2 and "more than 100 bytes" in r.err and "max_stdin_bytes" in r.err


def test_a_wrong_size_limit_in_config_names_the_file_and_key(tmp_path: Path) -> None:
    r = talkline(tmp_path, "http://127.0.0.1:9/v1", "hello", config="max_event_bytes = -5\n")
    assert r.code != 0
    assert "max_event_bytes" in r.err and "config.toml" in r.err
    _clean(r)


# -- the SSE decoder alone ---------------------------------------------------------------


def test_the_sse_decoder_is_linear_on_one_long_line() -> None:
    from talkline.wire.sse import EventTooLarge, SSEDecoder

    decoder = SSEDecoder(max_size=200 * MB)
    piece = "x" * 65536
    started = time.monotonic()
    decoder.feed("data: ")
    for _ in range(1600):  # 100 MB in 64 KiB chunks
        decoder.feed(piece)
    events = decoder.feed("\n\n")
    assert time.monotonic() - started < 3
    assert len(events) == 1 and len(events[0].data) == 1600 * 65536
    capped = SSEDecoder(max_size=1000)
    with pytest.raises(EventTooLarge):
        for _ in range(10):
            capped.feed("data: " + "y" * 200)
    many = SSEDecoder(max_size=1000)
    with pytest.raises(EventTooLarge):  # many short data: lines of one event add up
        many.feed("data: aaaaaaaaaa\n" * 200)


def test_a_normal_gzip_body_is_still_read(tmp_path: Path,
                                          raw: Callable[[Mode], RawServer]) -> None:
    def gz(conn: socket.socket, request: bytes) -> None:
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        body = packer.compress(_completion("unzipped " * 100_000)) + packer.flush()
        _headers(conn, Content_Type="application/json", Content_Encoding="gzip",
                 Content_Length=str(len(body)))
        conn.sendall(body)

    srv = raw(gz)
    r = talkline(tmp_path, srv.url, "--no-stream", "hello")
    assert r.code == 0, r.err
    assert r.out.count("unzipped") == 100_000
