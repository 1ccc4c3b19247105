"""`talkline --schema` run as a real subprocess against the scripted server: the strict
response_format in the request, stdout only the JSON, `--json` with `parsed`, an invalid
reply retried once then reported (exit code, path on stderr, the reply still stored), a
reply cut by the limit retried with a larger one, `-c` keeping the schema, clear refusals
of a bad schema; and `--help` does not import jsonschema."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from openapi_schema import validate
from talkline.testing import Reply

from .clihelp import SRC, run

KEY = "sk-test-fake-schema-cli"
GOOD = '{"city": "Paris", "country": "France"}'


def env_for(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


def sent(server) -> list[dict]:
    out = [r.body for r in server.chat_requests]
    for body in out:
        validate("CreateChatCompletionRequest", body)
    return out


def stored_replies(home: Path) -> list[tuple[str, str, str | None]]:
    (db,) = home.rglob("*.db")
    with sqlite3.connect(db) as con:
        return con.execute("SELECT status, content, error FROM messages WHERE role = "
                           "'assistant' ORDER BY id").fetchall()


def test_plain_output_is_only_the_json_object(server) -> None:
    server.script(Reply(GOOD))
    r = run("--schema", "city, country", "Name a city", env=env_for(server))
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"city": "Paris", "country": "France"}
    assert r.out == json.dumps(json.loads(GOOD), indent=2) + "\n"
    fmt = sent(server)[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["city", "country"]


def test_json_output_has_parsed(server) -> None:
    server.script(Reply(GOOD))
    r = run("--schema", "city, country", "--json", "Name a city", env=env_for(server))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["parsed"] == {"city": "Paris", "country": "France"}
    assert data["choices"][0]["message"]["content"] == GOOD


def test_schema_multi_asks_for_items(server) -> None:
    server.script(Reply('{"items": [{"title": "a", "price": 1.5}]}'))
    r = run("--schema", "title, price float", "--schema-multi", "Two books",
            env=env_for(server))
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"items": [{"title": "a", "price": 1.5}]}
    schema = sent(server)[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["items"]["items"]["required"] == ["title", "price"]


def test_an_invalid_reply_is_retried_then_reported_and_stored(server, talkline_home) -> None:
    server.script(Reply('{"city": 1, "country": "France"}'),
                  Reply('{"city": 2, "country": "France"}'))
    r = run("--schema", "city, country", "Name a city", env=env_for(server))
    assert r.code == 1
    assert r.out == ""
    assert "schema: the reply does not match ($.city: 1 is not of type 'string'); asking " \
           "once more" in r.err
    assert "Error: the reply does not match the schema, even after a retry: $.city: 2 is " \
           "not of type 'string'" in r.err
    assert "A simpler schema or a more capable model may help" in r.err
    assert "Traceback" not in r.err
    first, second = sent(server)
    assert "$.city: 1 is not of type 'string'" in second["messages"][-1]["content"]
    ((status, content, error),) = stored_replies(talkline_home)
    assert status == "error" and content == '{"city": 2, "country": "France"}'
    assert "$.city" in (error or "")


def test_a_failed_retry_stores_what_both_requests_cost(server, talkline_home) -> None:
    def usage(p: int, c: int) -> dict[str, int]:
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    server.script(Reply('{"city": 1, "country": "France"}', usage=usage(10, 3)),
                  Reply('{"city": 2, "country": "France"}', usage=usage(25, 4)))
    r = run("--schema", "city, country", "-m", "gpt-4o-mini", "Name a city",
            env=env_for(server))
    assert r.code == 1
    (db,) = talkline_home.rglob("*.db")
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT prompt_tokens, completion_tokens, cost FROM messages "
                          "WHERE role = 'assistant'").fetchone()
    assert row[:2] == (35, 7)  # both requests were paid for
    assert row[2] == (35 * 0.15 + 7 * 0.60) / 1e6


def test_a_cut_reply_is_retried_with_a_larger_limit(server) -> None:
    server.script(Reply('{"city": "Pa', finish_reason="length"), Reply(GOOD))
    r = run("--schema", "city, country", "--max-tokens", "40", "Name a city",
            env=env_for(server))
    assert r.code == 0, r.err
    assert json.loads(r.out)["city"] == "Paris"
    assert [b["max_tokens"] for b in sent(server)] == [40, 80]
    assert "cut by the token limit at 40 tokens; asking once more with 80" in r.err


def test_continue_keeps_the_schema(server) -> None:
    server.script(Reply(GOOD), Reply('{"city": "Rome", "country": "Italy"}'))
    assert run("--schema", "city, country", "Name a city", env=env_for(server)).code == 0
    r = run("-c", "Another one", env=env_for(server))
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"city": "Rome", "country": "Italy"}
    first, second = sent(server)
    assert second["response_format"] == first["response_format"]


def test_a_bad_schema_is_refused_before_sending(server) -> None:
    r = run("--schema", "name, age flot", "hi", env=env_for(server))
    assert r.code == 2
    assert "unknown type 'flot' at column 11" in r.err
    assert "use str, int, float or bool" in r.err
    assert "Traceback" not in r.err
    r = run("--schema-multi", "hi", env=env_for(server))
    assert r.code == 2 and "--schema-multi needs --schema" in r.err
    r = run("--schema", "a", "--json-mode", "hi", env=env_for(server))
    assert r.code == 2 and "give only --schema" in r.err
    assert server.chat_requests == []


def test_a_schema_file_that_cannot_be_strict_is_sent_non_strict_with_the_reason(
        server, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"tags": {
        "type": "array", "items": {"type": "string"}, "uniqueItems": True}}}))
    server.script(Reply('{"tags": ["a"]}'))
    r = run("--schema", str(path), "Tags", env=env_for(server))
    assert r.code == 0, r.err
    assert "schema: cannot be strict: $.tags uses 'uniqueItems', which strict mode does not " \
           "support. Sent non-strict; the reply is checked." in r.err
    assert sent(server)[0]["response_format"]["json_schema"]["strict"] is False
    assert json.loads(r.out) == {"tags": ["a"]}


def test_help_does_not_import_jsonschema() -> None:
    code = ("import sys, runpy; sys.argv = ['talkline', '--help']\n"
            "try:\n    runpy.run_module('talkline', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('JSONSCHEMA' if 'jsonschema' in sys.modules else 'CLEAN', file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.stderr.strip().endswith("CLEAN"), proc.stderr
