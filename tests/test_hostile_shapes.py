"""Issue 13, crashes and wrong answers: a server that sends valid JSON of the wrong shape,
lone surrogates, redirects, non-SSE bodies to a streamed request, empty choices, and text
before an error event; and input that is not UTF-8.

Each case runs the real `talkline` in a subprocess against a raw HTTP server on 127.0.0.1
that sends exactly the bytes it is given, and checks: no traceback, the exit code, the time
bound, the message (naming the field or the fix), the key in no output and no file, and
the stored rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
KEY = "sk-test-CANARY-shapes-7f3a9c1e5b"
PLAIN_KEY = "CANARY-plain-key-not-sk-4d8e2a"
BOUND = 30.0  # seconds any case may take, retries included


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class RawServer:
    """Answers every request with the next canned answer (the last one repeats); keeps
    the requests' paths and Authorization headers."""

    def __init__(self) -> None:
        self.answers: list[Canned] = []
        self.seen: list[tuple[str, str, str]] = []  # (method, path, authorization)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path,
                                   self.headers.get("Authorization", "")))
                canned = owner.answers.pop(0) if len(owner.answers) > 1 else (
                    owner.answers[0] if owner.answers else Canned(404, b"{}"))
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.content_type)
                for name, value in canned.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, *answers: Canned) -> None:
        self.answers = list(answers)

    @property
    def chats(self) -> int:
        return sum(1 for _, path, _ in self.seen if path.endswith("/chat/completions"))


@pytest.fixture
def raw() -> Iterator[RawServer]:
    srv = RawServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


def talkline(raw: RawServer, *args: str, stdin: bytes = b"", key: str = KEY) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=SRC + os.pathsep + env.get("PYTHONPATH", ""),
               OPENAI_API_KEY=key, OPENAI_BASE_URL=raw.url)
    env.pop("COLUMNS", None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "talkline", *args], input=stdin,
                          capture_output=True, env=env, timeout=BOUND + 30)
    took = time.monotonic() - start
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"),
               proc.stderr.decode("utf-8", "replace"), took)


def rows(home: Path) -> list[tuple[str, str | None, str]]:
    """(role, content, status) of every stored message, in order."""
    dbs = list(home.rglob("*.db"))
    if not dbs:
        return []
    with sqlite3.connect(dbs[0]) as db:
        return list(db.execute("SELECT role, content, status FROM messages ORDER BY id"))


def assert_clean(run: Run, home: Path, code: int, *, key: str = KEY) -> None:
    assert "Traceback" not in run.err, run.err
    assert run.code == code, (run.code, run.out, run.err)
    assert run.seconds < BOUND, run.seconds
    for text in (run.out, run.err):
        assert key not in text
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def completion(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    base.update(fields)
    return json.dumps(base).encode()


def sse(*chunks: Any, done: bool = True) -> Canned:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return Canned(200, (text + ("data: [DONE]\n\n" if done else "")).encode(),
                  "text/event-stream")


def chunk(content: str | None = None, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    base = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    base.update(fields)
    return base


MSG = {"role": "assistant", "content": "x"}
WRONG_SHAPES = [
    ({"choices": "x"}, "choices as a string, not a list"),
    ({"choices": [5]}, "choices[0] as a number, not an object"),
    ({"choices": [{"index": 0, "message": "hello"}]},
     "choices[0].message as a string, not an object"),
    ({"choices": [{"index": "0", "message": MSG}]}, "choices[0].index as a string"),
    ({"choices": [{"message": {"role": "assistant", "content": 5}}]},
     "choices[0].message.content as a number"),
    ({"choices": [{"message": {"role": "robot", "content": "x"}}]},
     "choices[0].message.role = 'robot'"),
    ({"choices": [{"message": {"role": "assistant", "tool_calls": "str"}}]},
     "choices[0].message.tool_calls as a string, not a list"),
    ({"usage": 7}, "usage as a number, not an object"),
    ({"usage": {"prompt_tokens": "3"}}, "usage.prompt_tokens as a string, not a whole number"),
    ({"usage": {"prompt_tokens": 1e308}}, "usage.prompt_tokens = 1e+308"),
    ({"usage": {"completion_tokens": -4}}, "usage.completion_tokens = -4"),
    ({"usage": {"prompt_tokens_details": {"cached_tokens": [1]}}},
     "usage.prompt_tokens_details.cached_tokens as a list"),
    ({"model": {"name": "m"}}, "model as an object, not a string"),
]


@pytest.mark.parametrize(("fields", "said"), WRONG_SHAPES, ids=[s for _, s in WRONG_SHAPES])
def test_a_whole_answer_of_the_wrong_shape_names_the_field(raw, talkline_home, fields, said):
    raw.script(Canned(body=completion(**fields)))
    r = talkline(raw, "--no-stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert f"the server's answer has {said}" in r.err
    assert "base URL" in r.err  # the hint says what to check
    assert raw.chats == 1  # not retried: the same server answers the same way
    assert rows(talkline_home)[0] == ("user", "hello", "complete")
    assert all(status != "complete" for role, _, status in rows(talkline_home)
               if role == "assistant")


@pytest.mark.parametrize(("bad", "said"), [
    ({"choices": "x"}, "choices as a string, not a list"),
    ({"choices": [{"index": 0, "delta": "hi"}]}, "choices[0].delta as a string"),
    ({"choices": [{"index": 0, "delta": {"content": ["a"]}}]},
     "choices[0].delta.content as a list"),
    ({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "a"}]}}]},
     "choices[0].delta.tool_calls[0].index as a string"),
    ({"choices": [], "usage": {"total_tokens": "many"}}, "usage.total_tokens as a string"),
])
def test_a_stream_chunk_of_the_wrong_shape_names_the_field(raw, talkline_home, bad, said):
    raw.script(sse(chunk("Hello, w"), {"id": "c1", "model": "m", **bad}, chunk("orld", "stop")))
    r = talkline(raw, "--stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert f"the server's answer has {said}" in r.err
    assert "Hello, w" in r.out  # what came before the bad chunk is shown...
    assert raw.chats == 1
    stored = rows(talkline_home)
    assert stored[-1] == ("assistant", "Hello, w", "interrupted")  # ... and kept, marked


def test_models_with_data_not_a_list_or_null_is_a_clear_error(raw, talkline_home):
    for data, said in (("x", "data as a string"), (None, "data as null"),
                       ([1], "data[0] as a number, not an object"),
                       ([{"id": 5}], "data[0].id as a number")):
        raw.script(Canned(body=json.dumps({"object": "list", "data": data}).encode()))
        r = talkline(raw, "models")
        assert_clean(r, talkline_home, 1)
        assert f"the server's answer has {said}" in r.err


def test_json_nested_100000_deep_is_refused_without_a_crash(raw, talkline_home):
    raw.script(Canned(body=b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    r = talkline(raw, "--no-stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert "JSON that cannot be read: the JSON nests more than 200 levels deep" in r.err
    assert raw.chats == 1


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_lone_surrogate_in_the_answer_is_shown_and_stored_complete(raw, talkline_home,
                                                                     stream):
    body = completion(choices=[{"index": 0, "message": {
        "role": "assistant", "content": "bad \ud800 byte"}, "finish_reason": "stop"}])
    streamed = sse({"id": "c", "choices": [{"index": 0, "delta": {"content": "bad \ud800"}}]},
                   chunk(" byte", "stop"))
    raw.script(streamed if stream == "--stream" else Canned(body=body))
    assert b"\\ud800" in (streamed.body if stream == "--stream" else body)
    r = talkline(raw, stream, "hello")
    assert_clean(r, talkline_home, 0)
    assert r.out == "bad \ufffd byte\n"
    assert rows(talkline_home) == [("user", "hello", "complete"),
                                   ("assistant", "bad \ufffd byte", "complete")]


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_empty_choices_is_an_error_and_is_not_sent_back(raw, talkline_home, stream):
    raw.script(sse({"id": "c", "choices": [], "usage": None}) if stream == "--stream"
               else Canned(body=completion(choices=[])))
    r = talkline(raw, stream, "hello")
    assert_clean(r, talkline_home, 1)
    assert "no answer came back" in r.err
    assert [s for role, _, s in rows(talkline_home) if role == "assistant"] != ["complete"]
    raw.script(Canned(body=completion()))
    again = talkline(raw, "--no-stream", "-c", "and now?")
    assert_clean(again, talkline_home, 0)
    assert again.out == "Hi there\n"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_naming_where_it_points(raw, talkline_home, status):
    elsewhere = RawServer()
    elsewhere.thread.start()
    try:
        target = elsewhere.url + "/chat/completions"
        raw.script(Canned(status, completion(), headers=(("Location", target),)))
        r = talkline(raw, "--no-stream", "hello")
        assert_clean(r, talkline_home, 1)
        assert f"answered {status}, a redirect to {target}" in r.err
        assert f"use --base-url {elsewhere.url}" in r.err
        assert "Hi there" not in r.out  # a 307's body is no answer
        assert elsewhere.seen == []  # never followed: the key never went there
        assert raw.chats == 1
        assert [s for role, _, s in rows(talkline_home) if role == "assistant"] != [
            "complete"]
    finally:
        elsewhere.httpd.shutdown()
        elsewhere.httpd.server_close()


def test_a_streamed_request_answered_with_a_json_error_shows_it(raw, talkline_home):
    raw.script(Canned(body=json.dumps({"error": {
        "message": "The model `nope` does not exist", "type": "invalid_request_error",
        "code": "model_not_found"}}).encode()))
    r = talkline(raw, "--stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert "The model `nope` does not exist" in r.err
    assert "without a finish reason" not in r.err
    assert raw.chats == 1


@pytest.mark.parametrize(("ctype", "body"), [
    ("text/html", b"<html><title>Gateway says no</title></html>"),
    ("text/plain", b"upstream overloaded, come back later " + b"." * 300),
    ("", b"hello from a server that is not OpenAI-compatible"),
])
def test_a_streamed_request_answered_with_another_body_quotes_it(raw, talkline_home, ctype,
                                                                  body):
    raw.script(Canned(body=body, content_type=ctype))
    r = talkline(raw, "--stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert "instead of an event stream" in r.err
    assert body[:20].decode() in r.err
    assert "Check the base URL" in r.err
    assert raw.chats == 1


def test_a_server_that_ignores_stream_true_is_understood(raw, talkline_home):
    raw.script(Canned(body=completion()))
    r = talkline(raw, "--stream", "hello")
    assert_clean(r, talkline_home, 0)
    assert r.out == "Hi there\n"
    assert rows(talkline_home)[-1] == ("assistant", "Hi there", "complete")


def test_text_before_an_error_event_is_shown_and_kept_marked(raw, talkline_home):
    error = {"error": {"message": "The content is flagged", "type": "invalid_request_error"}}
    raw.script(sse(chunk("Hello, w"), error, done=False))
    r = talkline(raw, "--stream", "hello")
    assert_clean(r, talkline_home, 1)
    assert "Hello, w" in r.out
    assert "after 8 characters" in r.err and "The content is flagged" in r.err
    assert rows(talkline_home)[-1] == ("assistant", "Hello, w", "interrupted")


def test_a_key_echoed_in_a_wrong_shape_error_is_redacted(raw, talkline_home):
    raw.script(Canned(body=completion(choices=[{"message": {"role": f"Bearer {PLAIN_KEY}"}}])))
    r = talkline(raw, "--no-stream", "hello", key=PLAIN_KEY)
    assert_clean(r, talkline_home, 1, key=PLAIN_KEY)
    assert "choices[0].message.role = 'Bearer ***'" in r.err


def test_stdin_that_is_not_utf8_is_refused_naming_the_byte(raw, talkline_home):
    raw.script(Canned(body=completion()))
    r = talkline(raw, "--no-stream", "summarise", stdin=b"caf\xe9 au lait\n")
    assert_clean(r, talkline_home, 2)
    assert "standard input is not UTF-8" in r.err
    assert "byte 3 (0xe9)" in r.err
    assert "iconv" in r.err  # how to convert it
    assert raw.chats == 0  # nothing was sent (or paid for)


def test_a_prompt_argument_that_is_not_utf8_is_refused(raw, talkline_home):
    raw.script(Canned(body=completion()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=SRC, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=raw.url)
    proc = subprocess.run([sys.executable, "-m", "talkline", "--no-stream", b"caf\xe9"],
                          capture_output=True, env=env, timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    assert proc.returncode == 2
    assert "the prompt is not UTF-8" in err and "byte 3 (0xe9)" in err
    assert raw.chats == 0


def conversations(home: Path) -> int:
    dbs = list(home.rglob("*.db"))
    if not dbs:
        return 0
    with sqlite3.connect(dbs[0]) as db:
        return int(db.execute("SELECT count(*) FROM conversations").fetchone()[0])


GOOD = {"role": "user", "content": "first, fine"}
BAD_IMPORTS = [
    (b'[{"role": "user", "content": "caf\xe9"}]', "is not UTF-8: byte 33 (0xe9)"),
    (json.dumps([GOOD, {"role": "user", "content": 5}]).encode(),
     "message 2 in bad.json has content as a number (5): content must be a string"),
    (json.dumps([GOOD, {"role": "assistant", "content": "x", "tool_calls": "str"}]).encode(),
     "message 2 in bad.json has tool_calls as a string: tool_calls must be a list"),
    (json.dumps([{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]
                ).encode(), "tool_calls[0].function.arguments as an object"),
    (json.dumps([{"role": "user", "content": [{"type": "text", "text": 5}]}]).encode(),
     "content[0].text as a number (5)"),
    (json.dumps([{"role": "user", "content": "x", "prompt_tokens": "many"}]).encode(),
     "prompt_tokens as a string: prompt_tokens must be a number"),
    (json.dumps({"format": "talkline.conversation", "version": 2,
                 "conversation": {"title": 5}, "messages": [GOOD]}).encode(),
     "the conversation in bad.json has title as a number (5): title must be a string"),
    (b"[" * 100_000 + b"]" * 100_000, "the JSON nests more than 200 levels deep"),
    (b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "the JSON nests more than 200 levels deep"),
]


@pytest.mark.parametrize(("data", "said"), BAD_IMPORTS, ids=[s for _, s in BAD_IMPORTS])
def test_history_import_of_a_bad_file_is_refused_whole(raw, talkline_home, tmp_path, data,
                                                       said):
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    r = talkline(raw, "history", "import", str(bad))
    assert_clean(r, talkline_home, 2)
    assert said.replace("bad.json", str(bad)) in r.err
    assert "nothing was imported" in r.err
    assert conversations(talkline_home) == 0  # nothing half-imported


def test_history_import_with_a_lone_surrogate_stores_it_replaced(raw, talkline_home,
                                                                 tmp_path):
    good = tmp_path / "s.json"
    good.write_text('[{"role": "user", "content": "ok \\ud800 then"}]', encoding="utf-8")
    r = talkline(raw, "history", "import", str(good))
    assert_clean(r, talkline_home, 0)
    assert rows(talkline_home) == [("user", "ok \ufffd then", "complete")]


def test_batch_run_refuses_a_lone_surrogate_id_before_anything_is_paid(raw, talkline_home,
                                                                       tmp_path):
    raw.script(Canned(body=completion()))
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a\\ud800b", "prompt": "hi"}\n{"id": "ok", "prompt": "yo"}\n',
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    for _ in range(2):  # a rerun says the same, and still sends nothing
        r = talkline(raw, "batch", "run", str(src), "-o", str(out))
        assert_clean(r, talkline_home, 2)
        assert "line 1: the id holds a lone surrogate" in r.err
        assert "give the line another id" in r.err
        assert raw.chats == 0


def test_batch_run_keeps_an_answer_with_a_lone_surrogate(raw, talkline_home, tmp_path):
    raw.script(Canned(body=completion(choices=[{"index": 0, "message": {
        "role": "assistant", "content": "odd \ud800 reply"}, "finish_reason": "stop"}])))
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "s1", "prompt": "hi \\udc80 there"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = talkline(raw, "batch", "run", str(src), "-o", str(out))
    assert_clean(r, talkline_home, 0)
    line = json.loads(out.read_text(encoding="utf-8"))
    body = line["response"]["body"]
    assert body["choices"][0]["message"]["content"] == "odd \ufffd reply"
    again = talkline(raw, "batch", "run", str(src), "-o", str(out))  # resumes: nothing left
    assert_clean(again, talkline_home, 0)
    assert raw.chats == 1


def test_a_bad_stream_chunk_does_not_end_a_repl_session(raw, talkline_home):
    """A chunk with `choices: "x"` is an error for that turn; the session goes on."""
    import pexpect

    from .test_repl_pty import READY, spawn

    raw.script(sse(chunk("Part one "), {"id": "c", "choices": "x"}),
               sse(chunk("All good now", "stop")))
    child = spawn(raw, talkline_home)
    try:
        child.expect_exact(READY)
        child.sendline("first")
        child.expect_exact("the server's answer has choices as a string, not a list")
        child.expect_exact(READY)
        child.sendline("second")
        child.expect_exact("All good now")
        child.expect_exact(READY)
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")
    stored = rows(talkline_home)
    assert ("assistant", "Part one ", "interrupted") in stored
    assert stored[-1] == ("assistant", "All good now", "complete")
    assert raw.chats == 2
