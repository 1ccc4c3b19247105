"""Where a new user gets stuck (issue #11): no key for OpenAI, a base URL without /v1, a
mistyped command, a batch against a server that is not there. Each message is checked
for naming the fix; the real command runs against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from talkline import Client
from talkline.batch import BatchRunner, batch_client
from talkline.cli.app import App
from talkline.cli.output.terminal import Terminal
from talkline.errors import MissingKeyError, NotFoundError
from talkline.settings import Settings
from talkline.testing import Fault, Reply, ScriptedServer
from talkline.wire.keycheck import needs_key
from talkline.wire.status_errors import error_from_response

from .clihelp import SRC, run

KEY = "sk-test-fake-first-hour-5678"
NO_KEY_HINT = ("Set OPENAI_API_KEY, run `talkline keys set openai`, or use -m local for the "
               "embedded model.")


# ---------------------------------------------------------------- helpers


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and answers none: set as the
    HTTPS proxy, it catches any attempt to reach a real host (and keeps it local)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def trap() -> Iterator[Listener]:
    listener = Listener()
    try:
        yield listener
    finally:
        listener.close()


def proxied(trap: Listener, **extra: str) -> dict[str, str]:
    url = f"http://127.0.0.1:{trap.port}"
    env = {"HTTPS_PROXY": url, "HTTP_PROXY": url, "ALL_PROXY": url, "NO_PROXY": ""}
    env.update(extra)
    return env


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound but not listening: every connection is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def prompts(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i:03}", "prompt": f"question {i}"}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def result_ids(path: Path) -> list[str]:
    return [json.loads(x)["custom_id"] for x in path.read_text().splitlines()]


# ---------------------------------------------------------------- no key for OpenAI


@pytest.mark.parametrize("where", [
    [],  # the default base URL
    ["--base-url", "https://api.openai.com/v1/"],
    ["--base-url", "https://API.OpenAI.com/v1"],  # the host is compared, not the string
])
def test_a_remote_model_with_no_key_for_openai_is_refused_before_sending(
        trap: Listener, talkline_home: Path, where: list[str]) -> None:
    r = run(*where, "-m", "gpt-4o", "What is the capital of France?", env=proxied(trap))
    assert r.code == 2, r.err
    assert "Error: No API key for https://" in r.err
    assert NO_KEY_HINT in r.err
    assert "Traceback" not in r.err and "retrying" not in r.err
    assert trap.connections == 0  # nothing left the machine, not even a connection
    assert not (talkline_home / "talkline.db").exists()  # and nothing was stored


def test_batch_run_and_submit_with_no_key_for_openai_send_nothing(
        trap: Listener, tmp_path: Path) -> None:
    path = prompts(tmp_path / "in.jsonl", 5)
    for command in ("run", "submit"):
        r = run("batch", command, str(path), "-m", "gpt-4o", env=proxied(trap))
        assert r.code == 2, r.err
        assert NO_KEY_HINT in r.err
    assert trap.connections == 0
    assert not (tmp_path / "in.jsonl.results.jsonl").exists()


def test_a_server_that_needs_no_key_works_without_one(server: ScriptedServer,
                                                      trap: Listener) -> None:
    r = run("--base-url", server.url, "-m", "llama3.2", "hi", env=proxied(trap, NO_PROXY="*"))
    assert r.code == 0, r.err
    assert r.out == "Echo: hi\n"
    assert "Authorization" not in {k.title() for k in server.chat_requests[-1].headers}


def test_no_key_and_no_model_still_means_the_embedded_model() -> None:
    settings = Settings.resolve()
    assert settings.model == "local" and settings.using_default_local
    err = io.StringIO()
    app = App()
    app.use_settings(settings)
    app._term = Terminal(stdout=io.StringIO(), stderr=err)
    app.announce()  # needs no key
    assert "embedded SmolLM2-135M model" in err.getvalue()


def test_the_library_refuses_too_and_only_for_openai_s_host() -> None:
    # A model the catalog gives no shutdown date: the refusal here is the missing key's.
    with Client(model="my-own-model") as client, pytest.raises(MissingKeyError) as caught:
        client.complete("hi")
    assert "talkline keys set openai" in str(caught.value)
    assert needs_key("https://api.openai.com/v1", None)
    assert not needs_key("https://api.openai.com/v1", KEY)
    assert not needs_key("https://api.openai.com.proxy.example/v1", None)
    assert not needs_key("https://proxy.example/api.openai.com/v1", None)
    assert not needs_key("http://localhost:11434/v1", None)


# ---------------------------------------------------------------- 404 without /v1


def test_404_on_a_base_url_without_v1_suggests_it(server: ScriptedServer) -> None:
    bare = server.url.removesuffix("/v1")
    r = run("--base-url", bare, "-m", "llama3.2", "--key", KEY, "hi")
    assert r.code == 1, r.err
    assert f"The server answered 404 Not Found for POST {bare}/chat/completions." in r.err
    assert f"The base URL does not end in /v1: try --base-url {bare}/v1" in r.err
    assert KEY not in r.err and KEY[-8:] not in r.err
    assert len(server.requests) == 1  # a 404 is not retried
    assert "Traceback" not in r.err


def test_404_suggestions_for_a_pasted_endpoint_and_not_for_a_missing_model() -> None:
    body = json.dumps({"error": {"message": "Invalid URL (POST /v1/chat/completions/chat/"
                                            "completions)"}})
    err = error_from_response(404, body, base_url="http://h:8/v1/chat/completions",
                              request="POST http://h:8/v1/chat/completions/chat/completions")
    assert isinstance(err, NotFoundError)
    assert err.hint == "The base URL does not end in /v1: try --base-url http://h:8/v1"
    missing = json.dumps({"error": {"message": "model \"x\" not found, try pulling it first"}})
    err = error_from_response(404, missing, base_url="http://h:8")
    assert err.hint is not None and "talkline models" in err.hint
    assert "/v1" not in str(err)
    on_v1 = error_from_response(404, body, base_url="http://h:8/v1")
    assert "/v1: try" not in str(on_v1)


# ---------------------------------------------------------------- did you mean


def spawn(server: ScriptedServer, home: Path, *args: str) -> pexpect.spawn:
    env = dict(os.environ, PYTHONPATH=SRC, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.url,
               TALKLINE_HOME=str(home), NO_COLOR="1", TERM="xterm-256color")
    env.pop("COLUMNS", None)
    return pexpect.spawn(sys.executable, ["-m", "talkline", *args], env=env,
                         encoding="utf-8", timeout=30, dimensions=(40, 200))


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


@pytest.mark.parametrize(("typed", "meant"), [
    ("histroy", "history"), ("chta", "chat"), ("modles", "models"), ("keyss", "keys"),
])
def test_a_mistyped_command_at_a_terminal_is_refused_with_did_you_mean(
        server: ScriptedServer, talkline_home: Path, typed: str, meant: str) -> None:
    code, out = finish(spawn(server, talkline_home, typed))
    assert code == 2, out
    assert (f'Unknown command "{typed}". Did you mean `talkline {meant}`? '
            f"To send it as a prompt: talkline prompt {typed}") in out
    assert server.requests == []
    assert not (talkline_home / "talkline.db").exists()


def test_at_a_terminal_prompt_word_and_longer_prompts_are_sent(
        server: ScriptedServer, talkline_home: Path) -> None:
    code, out = finish(spawn(server, talkline_home, "prompt", "histroy"))
    assert code == 0, out
    assert "Echo: histroy" in out
    code, out = finish(spawn(server, talkline_home, "histroy of rome"))
    assert code == 0, out
    assert "Echo: histroy of rome" in out
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == [
        "histroy", "histroy of rome"]


def test_a_mistyped_command_piped_or_scripted_is_still_a_prompt(server: ScriptedServer) -> None:
    r = run("histroy", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert r.out == "Echo: histroy\n"
    assert len(server.chat_requests) == 1


# ---------------------------------------------------------------- a batch, no server


def test_a_batch_against_a_closed_port_stops_after_three_and_resumes(
        tmp_path: Path, closed_port: int, server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 300)
    dead = f"http://127.0.0.1:{closed_port}/v1"
    started = time.monotonic()
    r = run("batch", "run", str(path), "--base-url", dead, "--key", KEY, "-m", "gpt-4o-mini",
            "--retries", "1", "--concurrency", "8", timeout=60)
    took = time.monotonic() - started
    assert r.code == 1, r.err
    assert (f"Error: Stopped after 3 requests in a row could not connect to {dead} "
            "(connection refused).") in r.err
    assert ("Check the base URL and your network, then run the same command again to "
            "resume.") in r.err
    assert r.err.count("could not connect") == 1 and "Traceback" not in r.err
    assert took < 30
    out = tmp_path / "in.jsonl.results.jsonl"
    assert result_ids(out) == []  # nothing written as failed: the resume sends them all
    r = run("batch", "run", str(path), "--base-url", server.url, "--key", KEY,
            "-m", "gpt-4o-mini", timeout=120)
    assert r.code == 0, r.err
    assert sorted(result_ids(out)) == [f"q{i:03}" for i in range(300)]


def _run_script(server: ScriptedServer, tmp_path: Path, n: int) -> tuple[BaseException | None,
                                                                          list[dict]]:
    settings = Settings.resolve(base_url=server.url, api_key=KEY, model="gpt-4o-mini")
    out = tmp_path / "out.jsonl"
    requests = [{"custom_id": f"q{i}", "body": {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": f"question {i}"}]}} for i in range(n)]

    async def go() -> None:
        async with batch_client(settings, concurrency=1, retries=0) as client:
            await BatchRunner(client, out, concurrency=1).run(requests, total=n)

    try:
        asyncio.run(go())
    except Exception as exc:  # the stop is raised; what was written stays
        return exc, [json.loads(x) for x in out.read_text().splitlines()]
    return None, [json.loads(x) for x in out.read_text().splitlines()]


def test_an_answer_between_connection_failures_resets_the_count(server: ScriptedServer,
                                                                 tmp_path: Path) -> None:
    server.script(Fault.reset(), Fault.reset(), Reply("ok"), Fault.reset(), Fault.reset(),
                  Reply("ok"), Fault.reset(), Fault.reset())
    error, written = _run_script(server, tmp_path, 8)
    assert error is None  # never three in a row: every line was tried
    failed = sorted(x["custom_id"] for x in written if x["error"] is not None)
    assert failed == ["q0", "q1", "q3", "q4", "q6", "q7"]  # written as failed, as always
    assert len(written) == 8


def test_three_resets_in_a_row_stop_the_run_and_keep_the_answers(server: ScriptedServer,
                                                                 tmp_path: Path) -> None:
    server.script(Reply("ok"), Fault.reset(), Fault.reset(), Fault.reset(), Reply("never"))
    error, written = _run_script(server, tmp_path, 10)
    assert error is not None and "3 requests in a row could not connect" in str(error)
    assert "connection reset" in str(error) or "Server disconnected" in str(error)
    assert [x["custom_id"] for x in written] == ["q0"]
    assert len(server.chat_requests) == 4


# ---------------------------------------------------------------- config show


def test_config_show_prints_none_for_what_is_unset() -> None:
    r = run("config", "show")
    assert r.code == 0, r.err
    rows = dict(line.split(None, 1) for line in r.out.splitlines())
    assert rows["system"] == "(none)" and rows["rpm"] == "(none)"
    assert rows["fallbacks"] == "(none)" and rows["params"] == "(none)"
    assert rows["log"] == "true" and rows["retries"] == "2"
    assert "None" not in r.out and "[]" not in r.out and "{}" not in r.out
