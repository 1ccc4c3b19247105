"""The provider's Batch API flow against the scripted server: submit (split), status, fetch
(output and error files merged), cancel, list; through the command and the library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from talkline.batch import (
    BatchAPI,
    BatchNotReadyError,
    InputOptions,
    InvalidInputError,
    fetch_results,
    iter_requests,
    natural_key,
    read_results,
    split_requests,
    submit,
)
from talkline.errors import NotFoundError
from talkline.settings import Paths
from talkline.store import ConversationStore
from talkline.testing import ScriptedServer

from .clihelp import SRC

MODEL = "gpt-4o-mini"
_CLI = ("-m", "talkline")  # the real entry point, as users run it


def batch_cli(server: ScriptedServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.url,
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *_CLI, "batch", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def prompts(path: Path, n: int, failing: tuple[int, ...] = ()) -> Path:
    """`n` simple lines; the scripted server's batch answers model `fail` with a 400."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            line: dict[str, Any] = {"prompt": f"question {i}", "id": f"row-{i}"}
            if i in failing:
                line["model"] = "fail"
            fh.write(json.dumps(line) + "\n")
    return path


def uploaded_lines(server: ScriptedServer) -> list[list[dict[str, Any]]]:
    files = [f for f in server.batches.files.values() if f.meta["purpose"] == "batch"]
    return [[json.loads(x) for x in f.data.splitlines()] for f in files]


def test_the_whole_flow_from_the_command_line(tmp_path: Path, server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 12, failing=(6, 8))

    r = batch_cli(server, "submit", str(path), "-m", MODEL, "--max-tokens", "50",
                  "--max-lines", "5")
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 3 and all(i.startswith("batch_") for i in ids)
    assert "Part 3: 2 requests" in r.stderr
    parts = uploaded_lines(server)
    assert [len(p) for p in parts] == [5, 5, 2]
    first = parts[0][0]
    assert first == {"custom_id": "row-0", "method": "POST", "url": "/v1/chat/completions",
                     "body": {"model": MODEL, "max_tokens": 50,
                              "messages": [{"role": "user", "content": "question 0"}]}}
    assert [b.obj["metadata"]["part"] for b in server.batches.batches.values()] == [
        "1", "2", "3"]

    r = batch_cli(server, "status", *ids)  # each look moves a scripted batch one step on
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["id", "status", "requests", "created", "input"]
    assert f"{ids[0]}  in_progress  0/5 done, 0 failed" in r.stdout

    server.batch_step_seconds = 60
    r = batch_cli(server, "fetch", ids[0], "-o", str(tmp_path / "early.jsonl"))
    assert r.returncode == 1
    assert f"No results yet for {ids[0]} (in_progress)." in r.stderr
    assert f"talkline batch status --wait {ids[0]}" in r.stderr
    server.batch_step_seconds = 0

    r = batch_cli(server, "status", "--wait", "--interval", "0", *ids)
    assert r.returncode == 0, r.stderr
    assert f"{ids[1]}: completed, 3/5 done, 2 failed" in r.stderr
    assert r.stdout.count("completed") == 3

    out = tmp_path / "results.jsonl"
    r = batch_cli(server, "fetch", *ids, "-o", str(out), "--input", str(path))
    assert r.returncode == 1, r.stderr  # two requests failed
    assert f"Wrote 12 results to {out}: 10 answered, 2 failed; cost at batch prices $" in (
        r.stderr)
    records = list(read_results(out))
    assert [x["custom_id"] for x in records] == [f"row-{i}" for i in range(12)]
    bad = records[6]
    assert bad["response"]["status_code"] == 400
    assert bad["response"]["body"]["error"]["code"] == "model_not_found"
    ok = records[0]["response"]
    assert ok["status_code"] == 200
    assert ok["body"]["choices"][0]["message"]["content"] == "Echo: question 0"

    r = batch_cli(server, "list")
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ids[::-1]


def test_cancel(tmp_path: Path, server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 3)
    server.batch_step_seconds = 60  # never advances on its own
    r = batch_cli(server, "submit", str(path), "-m", MODEL)
    (batch_id,) = r.stdout.split()
    r = batch_cli(server, "cancel", batch_id)
    assert (r.returncode, r.stdout) == (0, f"{batch_id}: cancelling\n")
    server.batch_step_seconds = 0
    r = batch_cli(server, "status", "--json", batch_id)
    assert json.loads(r.stdout)["status"] == "cancelled"
    r = batch_cli(server, "cancel", batch_id)
    assert r.returncode == 1 and "Cannot cancel a batch with status 'cancelled'" in r.stderr
    r = batch_cli(server, "status", "--wait", "--interval", "0", batch_id)
    assert r.returncode == 1  # finished, but not completed


def test_invalid_input_is_never_uploaded(tmp_path: Path, server: ScriptedServer) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": "hot", "temperature": 9}\n',
                    encoding="utf-8")
    r = batch_cli(server, "submit", str(path), "-m", MODEL)
    assert r.returncode == 2
    assert f"{path}: line 2: temperature must be between 0 and 2, got 9" in r.stderr
    assert server.requests == []
    r = batch_cli(server, "submit", str(path), "-m", MODEL, "--skip-invalid")
    assert r.returncode == 0, r.stderr
    assert [len(p) for p in uploaded_lines(server)] == [1]


def test_library_flow_fetch_orders_and_logs(tmp_path: Path, server: ScriptedServer,
                                            talkline_home: Path) -> None:
    from talkline.batch import ConversationLog

    path = prompts(tmp_path / "in.jsonl", 11, failing=(2,))
    options = InputOptions(model=MODEL, system="Be brief")
    with BatchAPI(server.url, "sk-test") as api:
        result = submit(path, api, options, max_lines=4)
        ids = [b.id for b in result.batches]
        assert [b.lines for b in result.batches] == [4, 4, 3]
        with pytest.raises(BatchNotReadyError):
            fetch_results(api, ids, tmp_path / "x.jsonl")
        done = api.wait(ids, interval=0, sleep=lambda s: None)
        assert {b["status"] for b in done} == {"completed"}

        # No input: natural custom_id order (row-2 before row-10).
        plain = fetch_results(api, ids, tmp_path / "plain.jsonl")
        got = [x["custom_id"] for x in read_results(tmp_path / "plain.jsonl")]
        assert got == [f"row-{i}" for i in range(11)]
        assert (plain.lines, plain.succeeded, plain.failed) == (11, 10, 1)
        assert plain.cost is not None and plain.cost > 0 and not plain.cost_estimated

        with ConversationStore.open(Paths.resolve()) as store:
            log = ConversationLog(store)
            logged = fetch_results(api, ids, tmp_path / "logged.jsonl", input_path=path,
                                   input_options=options, log=log)
            log.close()
            assert logged.logged == log.stored == 10
            convs = store.list_conversations(limit=50)
            assert len(convs) == 10 and all(c.system == "Be brief" for c in convs)
            answer = store.messages(convs[0].id)[-1]
            assert answer.batch and answer.cost and answer.model == MODEL

        with pytest.raises(NotFoundError):
            api.retrieve("batch_nope")


def test_fetch_reports_input_lines_without_results(tmp_path: Path,
                                                   server: ScriptedServer) -> None:
    path = prompts(tmp_path / "in.jsonl", 3)
    with BatchAPI(server.url, "sk-test") as api:
        result = submit(path, api, InputOptions(model=MODEL))
        api.wait([result.batches[0].id], interval=0)
        bigger = prompts(tmp_path / "more.jsonl", 5)
        summary = fetch_results(api, [result.batches[0].id], tmp_path / "out.jsonl",
                                input_path=bigger, input_options=InputOptions(model=MODEL))
    assert (summary.lines, summary.missing_count, summary.missing) == (3, 2, ["row-3", "row-4"])


def test_fetch_never_writes_the_key_a_server_echoes(tmp_path: Path,
                                                   server: ScriptedServer,
                                                   talkline_home: Path) -> None:
    from talkline.batch import ConversationLog
    from talkline.testing import Reply

    key = "sk-test-batch-echo-0123456789"
    server.script(Reply(f"your key is {key}, and again {key}"), Reply("nothing to hide"))
    path = prompts(tmp_path / "in.jsonl", 2)
    with BatchAPI(server.url, key) as api:
        result = submit(path, api, InputOptions(model=MODEL))
        api.wait([result.batches[0].id], interval=0)
        with ConversationStore.open(Paths.resolve()) as store:
            log = ConversationLog(store)
            fetch_results(api, [result.batches[0].id], tmp_path / "out.jsonl",
                          input_path=path, input_options=InputOptions(model=MODEL), log=log)
            log.close()
            stored = [m.content for c in store.list_conversations(limit=10)
                      for m in store.messages(c.id) if m.role == "assistant"]
    written = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert key not in written and "your key is ***, and again ***" in written
    rows = read_results(tmp_path / "out.jsonl")  # still JSON, line by line
    assert [r["custom_id"] for r in rows] == ["row-0", "row-1"]
    assert sorted(stored) == ["nothing to hide", "your key is ***, and again ***"]
    assert key.encode() not in (talkline_home / "talkline.db").read_bytes()


def test_submit_refuses_invalid_input(tmp_path: Path, server: ScriptedServer) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("{nope\n", encoding="utf-8")
    with BatchAPI(server.url, "sk-test") as api, pytest.raises(InvalidInputError):
        submit(path, api, InputOptions(model=MODEL))


def test_split_by_bytes_and_lines(tmp_path: Path) -> None:
    path = prompts(tmp_path / "in.jsonl", 10)
    requests = iter_requests(path, InputOptions(model=MODEL))
    one = len(json.dumps(next(iter_requests(path, InputOptions(model=MODEL))).to_line(),
                         separators=(",", ":"))) + 1
    parts = list(split_requests(requests, tmp_path, max_lines=4, max_bytes=one * 3 + 5))
    assert [p.lines for p in parts] == [3, 3, 3, 1]
    assert all(p.bytes < one * 3 + 5 for p in parts)
    assert sum(len(p.path.read_bytes().splitlines()) for p in parts) == 10


def test_natural_key() -> None:
    assert sorted(["row-10", "row-2", "b", "a-1"], key=natural_key) == [
        "a-1", "b", "row-2", "row-10"]


def test_a_batch_the_server_refuses_shows_its_errors(tmp_path: Path,
                                                     server: ScriptedServer) -> None:
    server.batch_max_lines = 2  # stricter than our split: the server fails the batch
    path = prompts(tmp_path / "in.jsonl", 4)
    r = batch_cli(server, "submit", str(path), "-m", MODEL)
    (batch_id,) = r.stdout.split()
    r = batch_cli(server, "status", "--wait", "--interval", "0", batch_id)
    assert r.returncode == 1
    assert f"{batch_id}  failed" in r.stdout
    assert f"{batch_id}: too_many_requests: The input file contains 4 requests" in r.stderr
    r = batch_cli(server, "fetch", batch_id, "-o", str(tmp_path / "out.jsonl"))
    assert r.returncode == 1 and "Wrote 0 results" in r.stderr
    assert "too_many_requests" in r.stderr
