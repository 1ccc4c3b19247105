"""The Responses API on the command line, run as real subprocesses against the scripted
server: `--api`, the catalog's choice, `-c` carrying encrypted reasoning, `--server-state`,
the 404 of a server without the API, the length warning, prices of reasoning tokens."""

from __future__ import annotations

import json

from openapi_schema import validate
from talkline.planning.costs import cost_of
from talkline.testing import Fault, Reply
from talkline.types import Usage

from .clihelp import run

KEY = "sk-test-responses-cli-1234"


def env(server, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, **extra}


def bodies(server) -> list[dict]:
    out = [r.body for r in server.responses_requests]
    for body in out:
        validate("CreateResponse", body)
    for event in server.sent_events:
        validate("ResponseStreamEvent", event)
    return out


def history(server) -> list[dict]:
    r = run("history", "list", "--json", env=env(server))
    cid = json.loads(r.out)[0]["id"]
    return json.loads(run("history", "show", "--json", cid, env=env(server)).out)["messages"]


def test_api_responses_streams_the_answer_and_keeps_reasoning_off_stdout(server):
    server.script(Reply("Paris.", reasoning="SECRET-THOUGHTS about France"))
    r = run("--api", "responses", "Capital of France?", env=env(server))
    assert r.code == 0, r.err
    assert r.out == "Paris.\n"
    assert "SECRET-THOUGHTS" not in r.out
    (body,) = bodies(server)
    assert body["input"] == [{"role": "user", "content": "Capital of France?"}]
    assert not server.chat_requests


def test_the_encrypted_reasoning_of_turn_one_is_sent_back_with_c(server):
    server.script(Reply("One.", reasoning="first thoughts", encrypted_reasoning="gAAAA-turn1"),
                  Reply("Two."))
    assert run("-m", "o3", "--api", "responses", "First?", env=env(server)).code == 0
    r = run("-c", "--api", "responses", "Second?", env=env(server))
    assert r.code == 0, r.err
    first, second = bodies(server)
    assert first["include"] == ["reasoning.encrypted_content"]
    assert first["reasoning"] == {"summary": "auto"}  # o3: the catalog's reasoning model
    item, answer, question = second["input"][1:]
    assert item["type"] == "reasoning" and item["encrypted_content"] == "gAAAA-turn1"
    assert answer == {"role": "assistant", "content": "One."}
    assert question == {"role": "user", "content": "Second?"}
    stored = history(server)
    assert stored[1]["reasoning_items"][0]["encrypted_content"] == "gAAAA-turn1"


def test_a_server_without_the_responses_api_names_the_fix(server):
    server.responses_api = False
    r = run("--api", "responses", "Hi", env=env(server))
    assert r.code != 0
    assert r.out == ""
    assert (f"this server has no Responses API (POST {server.url}/responses answered 404); "
            "use --api chat") in r.err
    assert "Traceback" not in r.err


def test_the_catalog_sends_a_pro_model_to_the_responses_api(server):
    server.script(Reply("Deep answer."))
    r = run("-m", "o3-pro", "Think", env=env(server))
    assert r.code == 0, r.err
    assert r.out == "Deep answer.\n"
    (body,) = bodies(server)
    assert body["model"] == "o3-pro" and body["reasoning"] == {"summary": "auto"}
    assert not server.chat_requests


def test_api_chat_overrides_the_catalog_and_config_api_is_read(server, talkline_home):
    server.script(Reply("Via chat."), Reply("Via responses."))
    assert run("-m", "o3-pro", "--api", "chat", "Hi", env=env(server)).code == 0
    assert len(server.chat_requests) == 1 and not server.responses_requests
    (talkline_home / "config.toml").write_text('api = "responses"\n', encoding="utf-8")
    r = run("Hi", env=env(server))
    assert r.code == 0, r.err
    assert len(server.responses_requests) == 1
    shown = json.loads(run("config", "show", "--json", env=env(server)).out)
    assert shown["api"] == "responses"


def test_a_wrong_api_value_is_refused_naming_the_choices(server, talkline_home):
    r = run("Hi", env=env(server, TALKLINE_API="respones"))
    assert r.code != 0 and "Traceback" not in r.err
    assert "api must be one of chat, responses" in r.err
    (talkline_home / "config.toml").write_text('api = "grpc"\n', encoding="utf-8")
    r = run("Hi", env=env(server))
    assert r.code != 0 and "api in " in r.err and "must be one of chat, responses" in r.err


def test_incomplete_for_max_output_tokens_gets_the_length_warning(server):
    server.script(Reply("Half of it", finish_reason="length"))
    r = run("--api", "responses", "--max-tokens", "20", "Go", env=env(server))
    assert r.code == 0, r.err
    assert r.out.startswith("Half of it")
    assert "cut off by the token limit (finish_reason: length)" in r.err


def test_a_cut_stream_is_retried_and_shown_whole(server):
    server.script(Fault.cut_after(2), Reply("The complete answer."))
    r = run("--api", "responses", "Go", env=env(server))
    assert r.code == 0, r.err
    assert r.out.endswith("The complete answer.\n")
    assert "retried" in r.err
    assert len(bodies(server)) == 2


def test_usage_with_reasoning_tokens_is_priced_by_the_catalog(server):
    usage = {"input_tokens": 1000, "output_tokens": 3000, "total_tokens": 4000,
             "input_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 2500}}
    server.script(Reply("Priced.", usage=usage))
    r = run("-m", "o3", "--api", "responses", "Go", env=env(server))
    assert r.code == 0, r.err
    reply = history(server)[1]
    assert (reply["prompt_tokens"], reply["completion_tokens"], reply["cached_tokens"],
            reply["reasoning_tokens"]) == (1000, 3000, 200, 2500)
    expected = cost_of("o3", Usage(1000, 3000, 4000, cached_tokens=200,
                                   reasoning_tokens=2500))
    assert expected is not None and expected.amount > 0
    assert reply["cost"] == expected.amount


def test_server_state_sends_previous_response_id_on_the_next_turn(server):
    server.script(Reply("One."), Reply("Two."))
    assert run("--api", "responses", "--server-state", "First?", env=env(server)).code == 0
    r = run("-c", "--api", "responses", "--server-state", "Second?", env=env(server))
    assert r.code == 0, r.err
    first, second = bodies(server)
    assert first["store"] is True and "previous_response_id" not in first
    stored = history(server)
    assert second["previous_response_id"] == stored[1]["response_id"]
    assert second["input"] == [{"role": "user", "content": "Second?"}]


def test_server_state_without_the_responses_api_is_refused(server):
    r = run("--server-state", "Hi", env=env(server))
    assert r.code == 2 and "--server-state needs the Responses API: add --api responses" \
        in r.err
    assert not server.requests
