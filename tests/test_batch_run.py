"""The local batch runner against the scripted server: at the limit, exactly once, resumable.

Library runs share the process with the server (small inputs); the 2,000-line runs and
the kill tests run the real command in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from talkline.batch import (
    BatchRunner,
    BatchSummary,
    ConversationLog,
    OutputLockedError,
    ResultWriter,
    batch_client,
    iter_requests,
    read_results,
    run_batch,
    scan_results,
)
from talkline.batch._records import worst_case
from talkline.retry import RetryPolicy
from talkline.settings import Paths, Settings
from talkline.store import ConversationStore
from talkline.testing import Error, Fault, Reply, ScriptedServer

from .clihelp import SRC

MODEL = "gpt-4o-mini"
FAST_RETRIES = RetryPolicy(max_retries=8, initial_delay=0.005, max_delay=0.05)
_CLI = ("-m", "talkline")  # the real entry point, as users run it


def cli_env(server: ScriptedServer) -> dict[str, str]:
    return dict(os.environ, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.url,
                PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def batch_cli(server: ScriptedServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *_CLI, "batch", *args], capture_output=True,
                          text=True, env=cli_env(server), timeout=120)


def start_cli(server: ScriptedServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *_CLI, "batch", *args], text=True,
                            env=cli_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def prompts(path: Path, n: int, **extra: Any) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"question {i}", "id": f"q{i}", **extra}) + "\n")
    return path


def ids(path: Path) -> list[str]:
    return [r["custom_id"] for r in read_results(path)]


def assert_complete(path: Path, n: int) -> list[dict[str, Any]]:
    """Every line answered exactly once, nothing torn, nothing else."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]
    got = [r["custom_id"] for r in records]
    assert len(got) == n, f"{len(got)} lines for {n} inputs"
    assert set(got) == {f"q{i}" for i in range(n)}
    return records


def run(server: ScriptedServer, path: Path, output: Path, *, concurrency: int = 16,
        **options: Any) -> BatchSummary:
    settings = Settings.resolve(api_key="sk-test", base_url=server.url)
    requests = iter_requests(path, _options())

    async def go() -> BatchSummary:
        async with batch_client(settings, concurrency=concurrency,
                                retry_policy=FAST_RETRIES) as client:
            return await run_batch(requests, output, client=client, concurrency=concurrency,
                                   **options)

    return asyncio.run(go())


def _options() -> Any:
    from talkline.batch import InputOptions

    return InputOptions(model=MODEL, params={"max_tokens": 20})


# ---------------------------------------------------------------- the acceptance run


def test_2000_lines_at_the_rate_limit_each_answered_once(tmp_path: Path) -> None:
    path = prompts(tmp_path / "in.jsonl", 2000)
    with ScriptedServer(rpm=60_000, tpm=3_000_000) as server:
        r = batch_cli(server, "run", str(path), "-m", MODEL, "--max-tokens", "20")
        stats = server.stats
    assert r.returncode == 0, r.stderr
    records = assert_complete(tmp_path / "in.jsonl.results.jsonl", 2000)
    assert all(x["error"] is None and x["response"]["status_code"] == 200 for x in records)
    first = next(x for x in records if x["custom_id"] == "q7")
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "Echo: question 7"
    assert first["id"].startswith("batch_req_")
    assert stats["ok"] == 2000  # nothing was answered twice by the server
    assert stats["429"] <= 20, stats
    assert "2000 of 2000 lines done" in r.stderr and "2000 answered, 0 failed" in r.stderr
    assert r.stdout == ""


def test_resume_sends_only_what_is_missing(tmp_path: Path, server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    first = run(server, path, out)
    assert (first.succeeded, first.resumed, first.exit_code) == (60, 0, 0)
    server.reset()
    again = run(server, path, out)
    assert (again.succeeded, again.resumed, again.complete) == (0, 60, True)
    assert server.chat_requests == []
    assert_complete(out, 60)


def test_ordered_writes_in_input_order(tmp_path: Path, server: ScriptedServer) -> None:
    rng = random.Random(3)

    def slow(body: Mapping[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        return Fault.slow_first_byte(rng.random() * 0.03, then=Reply(f"Echo: {text}"))

    server.default = slow
    path = prompts(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    summary = run(server, path, out, concurrency=32, ordered=True)
    assert summary.exit_code == 0
    assert ids(out) == [f"q{i}" for i in range(200)]


def test_ordered_stop_leaves_a_prefix_and_resume_continues_it(tmp_path: Path,
                                                              server: ScriptedServer) -> None:
    server.default = lambda body: Fault.slow_first_byte(
        0.02 if body["messages"][-1]["content"].endswith("3") else 0.0,
        then=Reply("ok"))
    path = prompts(tmp_path / "in.jsonl", 150)
    out = tmp_path / "out.jsonl"
    settings = Settings.resolve(api_key="sk-test", base_url=server.url)

    async def stopped_halfway() -> BatchSummary:
        async with batch_client(settings, concurrency=16) as client:
            runner = BatchRunner(client, out, concurrency=16, ordered=True, grace=0.0,
                                 progress_interval=0.005,
                                 on_progress=lambda p: p.done >= 40 and runner.stop())
            return await runner.run(iter_requests(path, _options()), total=150)

    summary = asyncio.run(stopped_halfway())
    assert summary.stopped == "interrupted" and summary.exit_code == 130
    written = ids(out)
    assert summary.written == len(written) < 150
    assert summary.succeeded == len(written) + summary.dropped >= 40
    assert written == [f"q{i}" for i in range(len(written))]  # an exact prefix
    rest = run(server, path, out, ordered=True)
    assert rest.resumed == len(written) and rest.complete
    assert ids(out) == [f"q{i}" for i in range(150)]


# ---------------------------------------------------------------- failures


def test_a_fault_mix_still_answers_every_line(tmp_path: Path, server: ScriptedServer) -> None:
    rng = random.Random(11)
    lock = threading.Lock()

    def mixed(body: Mapping[str, Any]) -> Any:
        with lock:
            x = rng.random()
        if x < 0.06:
            return Error()  # 500
        if x < 0.12:
            return Error.rate_limit(retry_after_ms=5)
        if x < 0.16:
            return Fault.cut_after(2)  # a body cut short
        if x < 0.19:
            return Fault.reset()
        if x < 0.21:
            return Error.html(502)
        return Reply(f"Echo: {body['messages'][-1]['content']}")

    server.default = mixed
    path = prompts(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    summary = run(server, path, out, concurrency=24)
    assert (summary.succeeded, summary.failed, summary.exit_code) == (300, 0, 0)
    records = assert_complete(out, 300)
    assert all(r["error"] is None for r in records)
    stats = server.stats
    assert stats["faults"] > 5 and stats["errors"] > 5 and stats["429"] > 5, stats


def test_a_line_that_fails_for_good_is_written_with_its_error(tmp_path: Path,
                                                               server: ScriptedServer) -> None:
    def answer(body: Mapping[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        if text == "question 5":
            return Error(400, "Invalid 'messages': nope.", "invalid_request_error",
                         "invalid_value", "messages")
        return Reply(f"Echo: {text}")

    server.default = answer
    path = prompts(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    summary = run(server, path, out)
    assert (summary.succeeded, summary.failed, summary.exit_code) == (29, 1, 1)
    records = {r["custom_id"]: r for r in assert_complete(out, 30)}
    bad = records["q5"]
    assert bad["error"] == {"code": "invalid_value", "message": "Invalid 'messages': nope."}
    assert bad["response"]["status_code"] == 400
    assert bad["response"]["body"]["error"]["param"] == "messages"
    assert bad["response"]["request_id"].startswith("req_")
    sent_q5 = [r for r in server.chat_requests
               if r.body["messages"][-1]["content"] == "question 5"]
    assert len(sent_q5) == 1  # a 400 is never retried

    # --retry-failed removes the error line and asks again.
    server.default = None
    again = run(server, path, out, retry_failed=True)
    assert (again.resumed, again.succeeded, again.failed) == (29, 1, 0)
    records = {r["custom_id"]: r for r in assert_complete(out, 30)}
    assert records["q5"]["error"] is None


def test_budget_stops_before_exceeding_and_resumes(tmp_path: Path,
                                                   server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 80)
    out = tmp_path / "out.jsonl"
    budget = 0.0001
    summary = run(server, path, out, budget=budget)
    assert summary.stopped == "budget" and summary.exit_code == 1
    assert summary.cost is not None and 0 < summary.cost <= budget
    # Requests in flight hold their worst case; waiting for them lets the run use nearly
    # all of the budget instead of stopping when reservations alone fill it.
    worst = worst_case({"model": MODEL, "max_tokens": 20, "messages": [
        {"role": "user", "content": "question 00"}]})
    assert worst is not None and summary.cost > budget - 2 * worst
    assert 0 < summary.succeeded < 80
    assert len(ids(out)) == summary.succeeded
    rest = run(server, path, out, budget=1.0)
    assert rest.stopped is None and rest.resumed == summary.succeeded and rest.complete
    assert_complete(out, 80)


def test_budget_from_the_command_line(tmp_path: Path, server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 40)
    r = batch_cli(server, "run", str(path), "-m", MODEL, "--max-tokens", "100",
                  "--budget", "0.00009")
    assert r.returncode == 1, r.stderr
    assert "Stopped before the next request could take spending over the budget" in r.stderr
    assert 0 < len(ids(tmp_path / "in.jsonl.results.jsonl")) < 40


# ---------------------------------------------------------------- the results file


def test_a_torn_last_line_is_cut_and_its_request_sent_again(tmp_path: Path,
                                                             server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    run(server, path, out)
    lines = out.read_bytes().splitlines(keepends=True)
    torn_id = json.loads(lines[-1])["custom_id"]
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    state = scan_results(out)
    assert state.torn == len(lines[-1]) // 2 and torn_id not in state.done
    server.reset()
    summary = run(server, path, out)
    assert (summary.resumed, summary.succeeded, summary.torn_bytes) == (9, 1, state.torn)
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == [
        f"question {torn_id[1:]}"]
    assert_complete(out, 10)


def test_two_runs_cannot_write_one_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter.open(out):
        with pytest.raises(OutputLockedError, match="Another talkline run is writing"):
            ResultWriter.open(out)
    with ResultWriter.open(out) as writer:  # released on close
        writer.write(0, {"custom_id": "a", "error": None})
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_log_stores_each_answer_as_a_conversation(tmp_path: Path, server: ScriptedServer,
                                                  talkline_home: Path) -> None:
    path = prompts(tmp_path / "in.jsonl", 12)
    r = batch_cli(server, "run", str(path), "-m", MODEL, "-s", "Be brief", "--log")
    assert r.returncode == 0, r.stderr
    assert "Stored 12 conversation(s)." in r.stderr
    with ConversationStore.open(Paths.resolve()) as store:
        convs = store.list_conversations(limit=50)
        assert len(convs) == 12
        by_title = {c.title: c for c in convs}
        conv = by_title["question 3"]
        assert conv.system == "Be brief" and conv.model == MODEL
        user, answer = store.messages(conv.id)
    assert (user.role, user.content) == ("user", "question 3")
    assert (answer.role, answer.content) == ("assistant", "Echo: question 3")
    assert answer.prompt_tokens and answer.completion_tokens and answer.cost
    assert not answer.batch


def test_log_queue_survives_store_errors() -> None:
    class Broken:
        def import_messages(self, *a: Any, **k: Any) -> None:
            raise OSError("disk full")

    from talkline.types import ChatResponse

    log = ConversationLog(Broken())
    response = ChatResponse.from_dict({"choices": [{"message": {"content": "x"}}]})
    log.add_response({"model": MODEL, "messages": []}, response, None, False)
    log.close()
    assert (log.stored, log.failures, log.last_error) == (0, 1, "disk full")


# ---------------------------------------------------------------- killed halfway


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], timeout: float = 30
                    ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_halfway_then_rerun_completes_without_duplicates(tmp_path: Path,
                                                                sig: signal.Signals) -> None:
    path = prompts(tmp_path / "in.jsonl", 2000)
    out = tmp_path / "in.jsonl.results.jsonl"
    args = ("run", str(path), "-m", MODEL, "--max-tokens", "20")
    with ScriptedServer(rpm=30_000, tpm=3_000_000) as server:
        proc = start_cli(server, *args)
        _wait_for_lines(out, 400, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "Run the same command again to resume." in err
        else:
            assert proc.returncode == -signal.SIGKILL
            # A kill in the middle of a write leaves half a line: simulate the worst case.
            with open(out, "ab") as fh:
                fh.write(b'{"id":"batch_req_x","custom_id":"q1999","response":{"sta')
        partial = ids(out)
        assert len(partial) == len(set(partial)) and 400 <= len(partial) < 2000
        r = batch_cli(server, *args)
    assert r.returncode == 0, r.stderr
    assert f"({len(partial)} from an earlier run)" in r.stderr
    if sig == signal.SIGKILL:
        assert "Removed a torn last line" in r.stderr
    records = assert_complete(out, 2000)
    assert all(x["error"] is None for x in records)


def test_a_wrong_key_ends_the_run_instead_of_failing_every_line(tmp_path: Path) -> None:
    path = prompts(tmp_path / "in.jsonl", 300)
    with ScriptedServer(require_key="sk-the-right-one") as server:
        r = batch_cli(server, "run", str(path), "-m", MODEL)
        sent = len(server.chat_requests)
    assert r.returncode == 1
    assert "Error: Invalid API key" in r.stderr and "keys set openai" in r.stderr
    assert ids(tmp_path / "in.jsonl.results.jsonl") == []  # nothing to resend by hand later
    assert sent < 150


def test_an_unreadable_input_stops_the_run_and_raises(tmp_path: Path,
                                                      server: ScriptedServer) -> None:
    def requests() -> Any:
        for i in range(30):
            yield {"custom_id": f"q{i}", "body": {"model": MODEL, "messages": [
                {"role": "user", "content": f"question {i}"}]}}
        raise OSError("the disk went away")

    settings = Settings.resolve(api_key="sk-test", base_url=server.url)
    out = tmp_path / "out.jsonl"

    async def go() -> BatchSummary:
        async with batch_client(settings, concurrency=8) as client:
            return await run_batch(requests(), out, client=client, concurrency=8)

    with pytest.raises(OSError, match="the disk went away"):
        asyncio.run(go())
    written = ids(out)
    assert len(written) == len(set(written)) <= 30  # what was in flight was kept


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"custom_id":"a","error":null}\n{"custom_id":"b","error":null}')
    with ResultWriter.open(out) as writer:
        assert writer.done_ids == {"a", "b"} and writer.resume.torn == 0
        writer.write(2, {"custom_id": "c", "error": None})
    assert ids(out) == ["a", "b", "c"]
