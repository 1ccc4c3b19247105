"""Reasoning shown apart from the answer, through the real command: each of the three
forms chat servers use (`reasoning_content`, `reasoning`, an opening `<think>` block) is
kept out of stdout, out of the stored answer and out of the next request's assistant
content; it is on stderr under `thinking`, hidden by --hide-reasoning (or config), in
--json as the message's `reasoning`, stored apart, shown by `history show` and kept by
export and import."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from talkline.testing import Reply

from .clihelp import run
from .openapi_schema import validate

KEY = "sk-test-fake-reasoning-cli-1234"
THOUGHT = "The user asks about 42. Let me think."
ANSWER = "The answer is 42."

FORMS = [
    pytest.param(lambda: Reply(ANSWER, reasoning=THOUGHT), id="reasoning_content"),
    pytest.param(lambda: Reply(ANSWER, reasoning=THOUGHT, reasoning_field="reasoning"),
                 id="reasoning"),
    pytest.param(lambda: Reply(f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"), id="think"),
]


def without_lifecycle(err: str) -> str:
    """`err` without the catalog's word on the model's shutdown (when one is near)."""
    return "".join(line for line in err.splitlines(keepends=True) if " retired " not in line)


def env_for(server: Any) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


def _db(home: Path) -> sqlite3.Connection:
    found = sorted(home.rglob("*.db")) + sorted(home.rglob("*.sqlite*"))
    return sqlite3.connect(found[0])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", [[], ["--no-stream"]])
def test_reasoning_is_on_stderr_never_stdout_nor_the_next_requests_content(
        server: Any, talkline_home: Path, form: Any, mode: list[str]) -> None:
    server.script(form(), Reply("Still 42."))
    first = run(*mode, "What is the answer?", env=env_for(server))
    assert first.code == 0, first.err
    assert first.out == ANSWER + "\n"
    assert "thinking\n" in first.err and THOUGHT in first.err
    assert first.err.index("thinking") < first.err.index(THOUGHT)
    second = run(*mode, "-c", "Sure?", env=env_for(server))
    assert second.code == 0, second.err
    body = server.chat_requests[-1].body
    validate("CreateChatCompletionRequest", body)
    assert body["messages"][1] == {"role": "assistant", "content": ANSWER}
    assert "think" not in json.dumps(body).lower()
    with _db(talkline_home) as conn:
        rows = conn.execute("SELECT content, reasoning FROM messages WHERE role = 'assistant'"
                            " ORDER BY id").fetchall()
    assert rows[0][0] == ANSWER
    assert rows[0][1].strip() == THOUGHT
    assert rows[1] == ("Still 42.", None)


@pytest.mark.parametrize("form", FORMS)
def test_hide_reasoning_hides_it_and_it_is_still_stored(
        server: Any, talkline_home: Path, form: Any) -> None:
    server.script(form())
    r = run("--hide-reasoning", "Q", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == ANSWER + "\n"
    assert THOUGHT not in r.err and "thinking" not in r.err
    with _db(talkline_home) as conn:
        (stored,) = conn.execute("SELECT reasoning FROM messages WHERE role = 'assistant'"
                                 ).fetchone()
    assert stored.strip() == THOUGHT


def test_config_hide_reasoning_hides_it(server: Any, talkline_home: Path) -> None:
    (talkline_home / "config.toml").write_text("hide_reasoning = true\n")
    server.script(Reply(ANSWER, reasoning=THOUGHT))
    r = run("Q", env=env_for(server))
    assert r.code == 0, r.err
    assert (r.out, THOUGHT in r.err) == (ANSWER + "\n", False)


def test_a_wrong_hide_reasoning_in_config_is_refused_with_the_fix(
        server: Any, talkline_home: Path) -> None:
    (talkline_home / "config.toml").write_text('hide_reasoning = "yes"\n')
    r = run("Q", env=env_for(server))
    assert r.code != 0
    assert "hide_reasoning" in r.err and "true or false" in r.err
    assert "Traceback" not in r.err and server.chat_requests == []


@pytest.mark.parametrize("form", FORMS)
def test_json_carries_the_reasoning_in_its_own_field(server: Any, form: Any) -> None:
    server.script(form())
    r = run("--json", "Q", env=env_for(server))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    message = data["choices"][0]["message"]
    assert message["content"] == ANSWER
    assert message["reasoning"].strip() == THOUGHT
    assert THOUGHT not in r.err
    assert data["object"] == "chat.completion" and data["usage"]["total_tokens"] > 0


def test_reasoning_streams_before_the_answer_and_a_plain_reply_has_no_header(
        server: Any) -> None:
    server.script(Reply(ANSWER, reasoning=THOUGHT, chunk_size=3), Reply("Plain."))
    r = run("--stream", "Q", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == ANSWER + "\n"
    # First on stderr (after a word on the model's shutdown, when one is near: the
    # catalog's, checked in tests/test_catalog_facts.py).
    assert without_lifecycle(r.err).startswith(f"thinking\n{THOUGHT}\n\n")
    plain = run("Q", env=env_for(server))
    assert (plain.out, "thinking" in plain.err) == ("Plain.\n", False)


def test_reasoning_with_escape_sequences_is_sanitised_on_stderr(server: Any) -> None:
    server.script(Reply(ANSWER, reasoning="evil \x1b]52;c;SGk=\x07 done"))
    r = run("Q", env=env_for(server))
    assert r.code == 0, r.err
    assert "\x1b" not in r.err and "\x07" not in r.err
    assert "evil \u241b]52;c;SGk=\u2407 done" in r.err


def test_history_show_and_export_import_keep_the_reasoning(
        server: Any, talkline_home: Path, tmp_path: Path) -> None:
    server.script(Reply(ANSWER, reasoning=THOUGHT))
    assert run("Q", env=env_for(server)).code == 0
    listed = json.loads(run("history", "list", "--json").out)
    cid = listed[0]["id"]
    shown = run("history", "show", cid)
    assert shown.code == 0, shown.err
    assert shown.out.index("> thinking:") < shown.out.index(f"> {THOUGHT}") < shown.out.index(
        ANSWER)
    out = tmp_path / "c.json"
    assert run("history", "export", cid, "--format", "json", "-o", str(out)).code == 0
    exported = json.loads(out.read_text())
    assert exported["version"] == 4
    replies = [m for m in exported["messages"] if m["role"] == "assistant"]
    assert (replies[0]["content"], replies[0]["reasoning"]) == (ANSWER, THOUGHT)
    imported = run("history", "import", str(out))
    assert imported.code == 0, imported.err
    with _db(talkline_home) as conn:
        rows = conn.execute("SELECT content, reasoning FROM messages WHERE role = 'assistant'"
                            ).fetchall()
    assert rows == [(ANSWER, THOUGHT), (ANSWER, THOUGHT)]
    openai = run("history", "export", cid, "--format", "openai")
    assert THOUGHT not in openai.out


def test_an_import_with_reasoning_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "talkline.conversation", "version": 4,
                                "conversation": {"title": "t"},
                                "messages": [{"role": "user", "content": "q"},
                                             {"role": "assistant", "content": "a",
                                              "reasoning": ["not", "text"]}]}))
    r = run("history", "import", str(path))
    assert r.code != 0
    assert "message 2" in r.err and "reasoning" in r.err and "Fix the file" in r.err
    assert "Traceback" not in r.err


def test_search_does_not_find_reasoning(server: Any) -> None:
    server.script(Reply(ANSWER, reasoning="zebracorn pondering"))
    assert run("Q", env=env_for(server)).code == 0
    found = run("history", "search", "zebracorn", "--json")
    assert found.code == 0, found.err
    assert json.loads(found.out) == []
    assert len(json.loads(run("history", "search", "answer", "--json").out)) == 1
