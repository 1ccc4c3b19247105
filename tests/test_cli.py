"""The one-shot command and the small command groups, run as real subprocesses."""

from __future__ import annotations

import json
import os
import stat

from talkline.testing import Error, Reply

from .clihelp import run

KEY = "sk-test-fake-cli-1234"


def env_for(server, **extra: str) -> dict[str, str]:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    env.update(extra)
    return env


def test_one_shot_prints_answer_and_exits_0(server):
    server.script(Reply("The capital of France is Paris."))
    r = run("What is the capital of France?", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "The capital of France is Paris.\n"
    body = server.chat_requests[-1].body
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert body["model"] == "gpt-4o-mini"


def test_stdin_is_joined_with_the_prompt_and_system_is_sent(server):
    r = run(
        "-s",
        "You are a terse editor",
        "Summarise this",
        input="line one\nline two\n",
        env=env_for(server),
    )
    assert r.code == 0, r.err
    assert server.chat_requests[-1].body["messages"] == [
        {"role": "system", "content": "You are a terse editor"},
        {"role": "user", "content": "line one\nline two\n\nSummarise this"},
    ]


def test_stdin_alone_is_the_prompt(server):
    r = run(input="just piped\n", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "Echo: just piped\n"


def test_every_param_flag_reaches_the_request(server):
    r = run(
        "-m",
        "gpt-4o-mini",
        "-t",
        "0.2",
        "--max-tokens",
        "200",
        "-n",
        "2",
        "--seed",
        "7",
        "--top-p",
        "0.9",
        "--stop",
        "END",
        "--stop",
        "STOP",
        "--presence-penalty",
        "0.1",
        "--frequency-penalty",
        "0.3",
        "--json-mode",
        "-p",
        "user",
        "u-1",
        "--json",
        "Name a colour",
        env=env_for(server),
    )
    assert r.code == 0, r.err
    body = server.chat_requests[-1].body
    assert {k: body[k] for k in body if k != "messages"} == {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "max_tokens": 200,
        "n": 2,
        "seed": 7,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "response_format": {"type": "json_object"},
        "user": "u-1",
    }
    data = json.loads(r.out)
    assert [c["index"] for c in data["choices"]] == [0, 1]


def test_o_series_get_max_completion_tokens(server):
    r = run("-m", "o3-mini", "--max-tokens", "50", "--no-stream", "hi", env=env_for(server))
    assert r.code == 0, r.err
    body = server.chat_requests[-1].body
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_n_choices_print_under_headings(server):
    server.script(Reply(choices=["red", "blue"]))
    r = run("-n", "2", "Name a colour", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "## Choice 1\n\nred\n\n## Choice 2\n\nblue\n\n"


def test_length_cut_warns_on_stderr(server):
    server.script(Reply("A long answer that was", finish_reason="length"))
    r = run("tell me", env=env_for(server))
    assert r.code == 0
    assert r.out == "A long answer that was\n"
    assert "cut off by the token limit" in r.err


def test_usage_flag_prints_tokens_on_stderr(server):
    server.script(
        Reply("ok", usage={"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13})
    )
    r = run("-u", "hi", env=env_for(server))
    assert r.out == "ok\n"
    assert "11 prompt + 2 completion = 13 tokens" in r.err


def test_out_of_range_param_is_a_usage_error(server):
    r = run("-t", "3.5", "hi", env=env_for(server))
    assert r.code == 2
    assert "temperature must be between 0 and 2, got 3.5" in r.err
    assert server.chat_requests == []


def test_unknown_param_is_a_usage_error(server):
    r = run("-p", "temprature", "1", "hi", env=env_for(server))
    assert r.code == 2
    assert "unknown request parameter 'temprature'" in r.err


def test_api_error_exits_1_with_a_clear_message(server):
    server.script(Error.invalid_key())
    r = run("hi", env=env_for(server))
    assert r.code == 1
    assert "Invalid API key" in r.err and "talkline keys set openai" in r.err
    assert "Traceback" not in r.err
    assert KEY not in r.err


def test_network_error_exits_1():
    r = run(
        "--retries",
        "0",
        "hi",
        env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert r.code == 1
    assert "Could not talk to http://127.0.0.1:9/v1" in r.err


def test_malformed_config_names_file_and_line(server, talkline_home):
    cfg = talkline_home / "config.toml"
    cfg.write_text('model = "gpt-4o"\nretries = = 3\n')
    r = run("hi", env=env_for(server))
    assert r.code == 2
    assert f"{cfg}, line 2" in r.err
    assert "Traceback" not in r.err


def test_config_file_values_apply_and_flags_win(server, talkline_home):
    (talkline_home / "config.toml").write_text('model = "gpt-4o"\n[params]\ntemperature = 0.5\n')
    run("hi", env=env_for(server))
    assert server.chat_requests[-1].body["model"] == "gpt-4o"
    assert server.chat_requests[-1].body["temperature"] == 0.5
    run("-m", "gpt-4o-mini", "-t", "0", "hi", env=env_for(server))
    assert server.chat_requests[-1].body["model"] == "gpt-4o-mini"
    assert server.chat_requests[-1].body["temperature"] == 0


def test_environment_model_beats_config(server, talkline_home):
    (talkline_home / "config.toml").write_text('model = "gpt-4o"\n')
    run("hi", env=env_for(server, TALKLINE_MODEL="gpt-4.1"))
    assert server.chat_requests[-1].body["model"] == "gpt-4.1"


def test_keys_set_list_path_and_use(server, talkline_home):
    stored = "sk-test-stored-key-9999"
    r = run("keys", "set", "openai", input=stored + "\n")
    assert r.code == 0, r.err
    path = talkline_home / "keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert run("keys", "list").out == "openai\n"
    assert run("keys", "path").out.strip() == str(path)
    r = run("hi", env={"OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {stored}"


def test_config_show_redacts_the_key(server):
    r = run("config", "show", env=env_for(server))
    assert r.code == 0
    assert KEY not in r.out
    assert "sk-...1234" in r.out


def test_models_lists_server_models(server):
    r = run("models", env=env_for(server))
    assert r.code == 0, r.err
    assert "gpt-4o-mini" in r.out.split()


def test_plain_http_to_a_remote_host_warns():
    from talkline.wire.plain_http import plain_http_warning

    assert "clear text" in (plain_http_warning("http://example.invalid/v1", KEY) or "")
    assert plain_http_warning("http://127.0.0.1:8080/v1", KEY) is None
    assert plain_http_warning("https://example.invalid/v1", KEY) is None


def test_unknown_config_setting_is_refused(server, talkline_home):
    (talkline_home / "config.toml").write_text('modle = "gpt-4o"\n')
    r = run("hi", env=env_for(server))
    assert r.code == 2
    assert "Unknown setting 'modle'" in r.err


def test_bad_base_url_is_a_config_error():
    r = run("--base-url", "localhost:11434", "hi", env={"OPENAI_API_KEY": KEY})
    assert r.code == 2
    assert "base URL must start with http:// or https://" in r.err


def test_version_and_help():
    assert run("--version").out.startswith("talkline, version ")
    r = run("--help")
    assert r.code == 0 and "PROMPT" in r.out
