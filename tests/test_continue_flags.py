"""Flags given on a continued conversation (-c, --cid) win over what it stored, which wins
over the config file; and the new values are stored for the next -c."""

from __future__ import annotations

import json

from .clihelp import run

KEY = "sk-test-fake-flags"


def env(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


def sent(server) -> dict:
    return server.chat_requests[-1].body


def only_conversation(server) -> str:
    r = run("history", "list", "--json", env=env(server))
    assert r.code == 0, r.err
    ids = [c["id"] for c in json.loads(r.out)]
    assert len(ids) == 1
    return ids[0]


def test_continue_with_new_max_tokens_sends_and_keeps_the_new_cap(server):
    assert run("--max-tokens", "7", "--seed", "3", "first", env=env(server)).code == 0
    assert sent(server)["max_tokens"] == 7
    r = run("-c", "--max-tokens", "9", "second", env=env(server))
    assert r.code == 0, r.err
    assert sent(server)["max_tokens"] == 9
    assert sent(server)["seed"] == 3  # what was stored and not given again stays
    assert run("-c", "third", env=env(server)).code == 0
    assert sent(server)["max_tokens"] == 9  # the next -c keeps the new value


def test_cid_with_new_temperature_top_p_stop_and_param(server):
    assert run("-t", "0.5", "--stop", "END", "first", env=env(server)).code == 0
    cid = only_conversation(server)
    r = run("--cid", cid[:8], "-t", "0.1", "--top-p", "0.8", "--stop", "STOP",
            "-p", "reasoning_effort", "low", "--json-mode", "second", env=env(server))
    assert r.code == 0, r.err
    body = sent(server)
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.1, 0.8, "STOP")
    assert body["reasoning_effort"] == "low"
    assert body["response_format"] == {"type": "json_object"}
    assert [m["content"] for m in body["messages"]][0] == "first"
    assert run("--cid", cid, "third", env=env(server)).code == 0
    assert (sent(server)["temperature"], sent(server)["reasoning_effort"]) == (0.1, "low")


def test_continue_with_a_new_model_uses_and_stores_it(server):
    assert run("-m", "gpt-4o", "--max-tokens", "20", "first", env=env(server)).code == 0
    assert sent(server)["model"] == "gpt-4o"
    assert run("-c", "-m", "o3-mini", "second", env=env(server)).code == 0
    body = sent(server)
    # The stored cap follows the model: o-series take max_completion_tokens only.
    assert body["model"] == "o3-mini"
    assert body["max_completion_tokens"] == 20 and "max_tokens" not in body
    assert run("-c", "--max-tokens", "30", "third", env=env(server)).code == 0
    body = sent(server)
    assert body["model"] == "o3-mini"
    assert body["max_completion_tokens"] == 30 and "max_tokens" not in body


def test_continue_with_a_new_system_prompt_replaces_it_and_says_so(server):
    assert run("-s", "You are a pirate.", "first", env=env(server)).code == 0
    r = run("-c", "-s", "You are a poet.", "second", env=env(server))
    assert r.code == 0, r.err
    assert sent(server)["messages"][0] == {"role": "system", "content": "You are a poet."}
    assert ('system prompt replaced for this conversation from this turn on '
            '(was: "You are a pirate.")') in r.err
    r = run("-c", "-s", "You are a poet.", "third", env=env(server))
    assert r.code == 0 and "system prompt replaced" not in r.err
    r = run("-c", "fourth", env=env(server))
    assert r.code == 0 and "system prompt replaced" not in r.err
    messages = sent(server)["messages"]
    assert messages[0] == {"role": "system", "content": "You are a poet."}
    assert [m["role"] for m in messages].count("system") == 1


def test_stored_values_beat_the_config_file_and_flags_beat_both(server, talkline_home):
    (talkline_home / "config.toml").write_text(
        'system = "From config."\n[params]\ntemperature = 0.9\nseed = 1\n'
    )
    assert run("-t", "0.2", "first", env=env(server)).code == 0
    assert (sent(server)["temperature"], sent(server)["seed"]) == (0.2, 1)
    assert run("-c", "second", env=env(server)).code == 0
    assert sent(server)["temperature"] == 0.2  # stored, not the config's 0.9
    assert sent(server)["messages"][0]["content"] == "From config."
    assert run("-c", "--seed", "5", "third", env=env(server)).code == 0
    assert (sent(server)["temperature"], sent(server)["seed"]) == (0.2, 5)
    assert run("a new one", env=env(server)).code == 0
    assert (sent(server)["temperature"], sent(server)["seed"]) == (0.9, 1)


def test_a_wrong_flag_on_continue_is_a_usage_error_and_stores_nothing(server):
    assert run("first", env=env(server)).code == 0
    r = run("-c", "--max-tokens", "0", "second", env=env(server))
    assert r.code == 2 and "max_tokens must be at least 1" in r.err
    assert "Traceback" not in r.err
    assert len(server.chat_requests) == 1


def test_chat_resumed_with_new_flags_sends_them(server):
    assert run("-m", "gpt-4o", "--max-tokens", "7", "-s", "Old.", "first",
               env=env(server)).code == 0
    r = run("chat", "-c", "--max-tokens", "9", "-s", "New.", "-t", "0.3",
            input="second\nquit\n", env=env(server))
    assert r.code == 0, r.err
    body = sent(server)
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("gpt-4o", 9, 0.3)
    assert body["messages"][0] == {"role": "system", "content": "New."}
    assert 'system prompt replaced for this conversation from this turn on (was: "Old.")' in r.err


def test_chat_refuses_several_choices_and_says_to_use_the_one_shot_command(server):
    r = run("chat", "-n", "2", input="hello\nquit\n", env=env(server))
    assert r.code == 2
    assert ('-n 2: a chat continues one reply; use the one-shot command '
            '(talkline -n 2 "...") for several choices.') in r.err
    assert "Traceback" not in r.err and not server.chat_requests
    r = run("chat", input="/set n 3\nhello\nquit\n", env=env(server))
    assert r.code == 0, r.err
    assert ('/set n 3: a chat continues one reply; use the one-shot command '
            '(talkline -n 3 "...") for several choices.') in r.err
    assert "n" not in server.chat_requests[-1].body


def test_chat_resuming_a_one_shot_with_several_choices_asks_for_one(server):
    assert run("-n", "2", "Name a colour", env=env(server)).code == 0
    assert server.chat_requests[-1].body["n"] == 2
    r = run("chat", "-c", input="another\nquit\n", env=env(server))
    assert r.code == 0, r.err
    assert "n = 2 is not used here: a chat continues one reply." in r.err
    assert "n" not in server.chat_requests[-1].body
