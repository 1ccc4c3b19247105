"""Batch input: every accepted form, defaults, and invalid lines reported before sending."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkline.batch import (
    BatchRequest,
    InputOptions,
    InvalidInputError,
    check_body,
    iter_requests,
    scan_input,
)
from talkline.batch._input import InvalidLine, parse_object
from talkline.errors import ConfigError

from .clihelp import SRC

MODEL = "gpt-4o-mini"


def write(path: Path, *lines: str | dict) -> Path:
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n"
                            for ln in lines), encoding="utf-8")
    return path


def batch_line(cid: str, content: str = "hi", **body: object) -> dict:
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": content}], **body}}


def batch_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    """`talkline batch ...` in a subprocess (real pipes, exit codes)."""
    full = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "talkline", "batch", *args],
                          capture_output=True, text=True, env=full, timeout=timeout)


# ---------------------------------------------------------------- accepted forms


def test_batch_api_lines_pass_through_unchanged(tmp_path: Path) -> None:
    line = batch_line("a", temperature=0.2, max_tokens=5)
    path = write(tmp_path / "in.jsonl", line, batch_line("b", "yo"))
    reqs = list(iter_requests(path))
    assert [r.custom_id for r in reqs] == ["a", "b"]
    assert [(r.line, r.index) for r in reqs] == [(1, 0), (2, 1)]
    assert reqs[0].body == line["body"]
    assert reqs[0].to_line() == line


def test_simple_lines_prompt_messages_and_generated_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.jsonl",
        {"prompt": "What is 2+2?", "id": "sum"},
        "",
        {"prompt": "Name a colour", "system": "Be terse", "temperature": 0.5, "id": 7},
        {"messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o"},
    )
    reqs = list(iter_requests(path, InputOptions(model=MODEL)))
    assert [r.custom_id for r in reqs] == ["sum", "7", "line-4"]
    assert reqs[0].body == {"model": MODEL,
                            "messages": [{"role": "user", "content": "What is 2+2?"}]}
    assert reqs[1].body == {"model": MODEL, "temperature": 0.5, "messages": [
        {"role": "system", "content": "Be terse"}, {"role": "user", "content": "Name a colour"}]}
    assert reqs[2].body["model"] == "gpt-4o"


def test_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("\ufefffirst question\r\n\nsecond question\n  \nthird".encode())
    reqs = list(iter_requests(path, InputOptions(format="text", model=MODEL)))
    assert [(r.custom_id, r.line) for r in reqs] == [
        ("line-1", 1), ("line-3", 3), ("line-5", 5)]
    assert reqs[0].body["messages"] == [{"role": "user", "content": "first question"}]
    assert reqs[2].body["messages"][0]["content"] == "third"


def test_csv_with_column_and_id_column(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('key,question,notes\nk1,"Hello, world",x\nk2,"two\nlines",y\n\nk3,,z\n',
                    encoding="utf-8")
    opts = InputOptions(format="csv", column="question", id_column="key", model=MODEL)
    report = scan_input(path, opts)
    assert report.valid == 2
    assert [(p.line, p.message) for p in report.problems] == [(6, "the prompt is empty")]
    reqs = list(iter_requests(path, opts))
    assert [(r.custom_id, r.line) for r in reqs] == [("k1", 2), ("k2", 3)]
    assert reqs[1].body["messages"][0]["content"] == "two\nlines"
    no_ids = list(iter_requests(path, InputOptions(format="csv", column="question",
                                                   model=MODEL)))
    assert [r.custom_id for r in no_ids] == ["row-1", "row-2"]


def test_csv_unknown_column_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        scan_input(path, InputOptions(format="csv", column="prompt", model=MODEL))
    assert "no column 'prompt'" in info.value.message
    assert "'a', 'b'" in (info.value.hint or "")
    with pytest.raises(ConfigError):
        InputOptions(format="csv")


def test_defaults_apply_only_where_lines_are_silent(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.jsonl",
        {"prompt": "plain"},
        {"prompt": "own settings", "model": "gpt-4o", "temperature": 1.5,
         "max_completion_tokens": 50, "system": "Own system"},
        batch_line("dev", body_note_ignored=None) | {"body": {
            "messages": [{"role": "developer", "content": "D"}, {"role": "user", "content": "x"}]
        }},
    )
    opts = InputOptions(model=MODEL, system="Default system",
                        params={"temperature": 0.1, "max_tokens": 20, "seed": 3})
    plain, own, dev = iter_requests(path, opts)
    assert plain.body == {"model": MODEL, "temperature": 0.1, "max_tokens": 20, "seed": 3,
                          "messages": [{"role": "system", "content": "Default system"},
                                       {"role": "user", "content": "plain"}]}
    # The line's own model, temperature, token limit and system prompt win; the default
    # max_tokens is not added next to the line's max_completion_tokens.
    assert own.body == {"model": "gpt-4o", "temperature": 1.5, "max_completion_tokens": 50,
                        "seed": 3, "messages": [{"role": "system", "content": "Own system"},
                                                {"role": "user", "content": "own settings"}]}
    assert dev.body["model"] == MODEL
    assert dev.body["messages"][0] == {"role": "developer", "content": "D"}


# ---------------------------------------------------------------- invalid lines


def test_every_problem_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps(batch_line("ok-1")),                                          # 1
        '{"custom_id": "x", "body": {',                                           # 2
        json.dumps({"custom_id": "nobody", "method": "POST",
                    "url": "/v1/chat/completions"}),                              # 3
        json.dumps(batch_line("nomsg") | {"body": {"model": MODEL}}),             # 4
        json.dumps(batch_line("role") | {"body": {"model": MODEL, "messages": [
            {"role": "assistance", "content": "x"}]}}),                           # 5
        json.dumps(batch_line("hot", temperature=3)),                             # 6
        json.dumps(batch_line("ok-1")),                                           # 7
        json.dumps(batch_line("url") | {"url": "/v1/completions"}),               # 8
        json.dumps(batch_line("get") | {"method": "GET"}),                        # 9
        json.dumps(batch_line("stream", stream=True)),                            # 10
        json.dumps({"prompt": "x", "colour": "red"}),                             # 11
        json.dumps({"prompt": "  "}),                                             # 12
        json.dumps(["not", "an", "object"]),                                      # 13
        json.dumps({"prompt": "x", "messages": []}),                              # 14
        json.dumps(batch_line("ok-2")),                                           # 15
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe bad bytes\n")  # 16
    report = scan_input(path)
    assert report.valid == 2 and report.problem_count == 14
    by_line = {p.line: p.message for p in report.problems}
    assert sorted(by_line) == list(range(2, 15)) + [16]
    assert by_line[2].startswith("not valid JSON")
    assert by_line[3] == "missing 'body' object"
    assert "'messages' must be a non-empty list" in by_line[4]
    assert "role 'assistance'" in by_line[5] and "did you mean 'assistant'" in by_line[5]
    assert "temperature must be between 0 and 2" in by_line[6]
    assert by_line[7] == "duplicate custom_id 'ok-1' (first on line 1)"
    assert "'url' must be '/v1/chat/completions'" in by_line[8]
    assert "'method' must be POST" in by_line[9]
    assert "stream is not supported" in by_line[10]
    assert "unknown field(s) 'colour'" in by_line[11]
    assert "'prompt' must be a non-empty string" in by_line[12]
    assert by_line[13] == "each line must be a JSON object"
    assert "either 'prompt' or 'messages'" in by_line[14]
    assert by_line[16] == "the line is not UTF-8 text"
    assert [r.custom_id for r in iter_requests(path)] == ["ok-1", "ok-2"]
    # A second pass that trusts the first one's report yields the same requests.
    assert report.invalid_lines == frozenset(by_line)
    assert list(iter_requests(path, report=report)) == list(iter_requests(path))

    error = InvalidInputError(report, shown=3)
    assert error.exit_code == 2
    assert str(error).splitlines()[:5] == [
        "14 input lines are invalid; nothing was sent.",
        f"{path}: line 2: {by_line[2]}",
        f"{path}: line 3: missing 'body' object",
        f"{path}: line 4: {by_line[4]}",
        "... and 11 more",
    ]
    assert "--skip-invalid to send the other 2 lines" in str(error)


def test_a_missing_model_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", {"prompt": "no model anywhere"})
    report = scan_input(path, InputOptions())
    assert [p.message for p in report.problems] == [
        "'body' has no model (set one in the line or with -m)"]


def test_check_body() -> None:
    good = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    assert check_body(good) is None
    assert "response_format must be an object" in (
        check_body({**good, "response_format": "json"}) or ""
    )
    assert check_body({**good, "n": 0}) == "n must be between 1 and 128, got 0"
    assert check_body({**good, "vendor_field": 1}) is None  # extra fields ride along
    tool_call = {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}
    assert check_body({**good, "messages": [*good["messages"], tool_call]}) is None
    assert check_body({**good, "messages": [{"role": "user"}]}) == (
        "message 1 (user) has no content")


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["prompt", "id", "body", "messages", "custom_id",
                                       "model", "url", "temperature", "role", "content",
                                       "response_format", "stop", "n", "max_tokens",
                                       "tools", "logit_bias", "system"]),
                      children, max_size=6),
    max_leaves=12,
))
def test_any_json_line_is_either_a_request_or_a_problem(obj: object) -> None:
    try:
        cid, body = parse_object(obj, 1, InputOptions(model=MODEL))
    except InvalidLine as exc:
        assert exc.message
        return
    assert isinstance(cid, str) and cid
    reason = check_body(body)
    assert reason is None or isinstance(reason, str)
    if reason is None:
        BatchRequest(cid, body, 1, 0).to_line()


# ---------------------------------------------------------------- the command


def test_cli_reports_invalid_lines_and_sends_nothing(tmp_path: Path, server) -> None:
    path = write(tmp_path / "in.jsonl", batch_line("a"), "{oops", batch_line("a"),
                 batch_line("b"))
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url}
    r = batch_cli("run", str(path), env=env)
    assert r.returncode == 2, r.stderr
    assert "2 input lines are invalid; nothing was sent." in r.stderr
    assert f"{path}: line 2: not valid JSON" in r.stderr
    assert f"{path}: line 3: duplicate custom_id 'a' (first on line 1)" in r.stderr
    assert server.chat_requests == []
    assert not (tmp_path / "in.jsonl.results.jsonl").exists()

    r = batch_cli("run", str(path), "--skip-invalid", env=env)
    assert r.returncode == 0, r.stderr
    assert "Skipping 2 invalid line(s)." in r.stderr
    out = tmp_path / "in.jsonl.results.jsonl"
    results = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["custom_id"] for x in results) == ["a", "b"]
    assert r.stdout == ""


def test_cli_text_and_csv_inputs_with_flag_defaults(tmp_path: Path, server) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url}
    text = tmp_path / "q.txt"
    text.write_text("one\ntwo\n", encoding="utf-8")
    r = batch_cli("run", str(text), "--text", "-m", "gpt-4o", "-s", "Terse", "-t", "0.3",
                  "--max-tokens", "9", "--ordered", env=env)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in (tmp_path / "q.txt.results.jsonl").read_text().splitlines()]
    assert [x["custom_id"] for x in out] == ["line-1", "line-2"]
    assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: one"
    bodies = sorted((req.body for req in server.chat_requests),
                    key=lambda b: b["messages"][-1]["content"])
    assert bodies[0] == {"model": "gpt-4o", "temperature": 0.3, "max_tokens": 9, "messages": [
        {"role": "system", "content": "Terse"}, {"role": "user", "content": "one"}]}

    table = tmp_path / "q.csv"
    table.write_text("id,text\nx,alpha\ny,beta\n", encoding="utf-8")
    r = batch_cli("run", str(table), "--column", "text", "--id-column", "id",
                  "-o", str(tmp_path / "csv.jsonl"), env=env)
    assert r.returncode == 0, r.stderr
    ids = {json.loads(x)["custom_id"] for x in (tmp_path / "csv.jsonl").read_text().splitlines()}
    assert ids == {"x", "y"}
    r = batch_cli("run", str(table), env=env)
    assert r.returncode == 2 and "needs --column" in r.stderr


def test_the_batch_library_does_not_import_terminal_libraries() -> None:
    script = ("import sys, json, talkline.batch, talkline.batch._runner; "
              "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True).stdout
    modules = set(json.loads(out))
    assert not modules & {"click", "rich", "prompt_toolkit"}
