"""Settings values are checked where they enter: a bad value in config.toml, a flag or the
environment gets a message naming the file and the key (or the flag) and what it must be,
exit 2, no traceback, and nothing is sent."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from talkline.cli.commands.options import _REQUEST_OPTIONS
from talkline.errors import ConfigError
from talkline.planning.catalog import Catalog
from talkline.settings import MAX_RETRIES, MIN_RETRIES, Settings, load_toml
from talkline.testing import ScriptedServer

from .clihelp import run

KEY = "sk-test-fake-settings-0001"
SECONDS = "must be a number of seconds above 0 (for example 30)"

# config.toml text -> the first line of the error ({cfg} is the file's path) and the hint
BAD_CONFIGS = [
    ("timeout = nan\n", f"timeout in {{cfg}} {SECONDS}, got nan", "Fix or remove timeout"),
    ("idle_timeout = inf\n", f"idle_timeout in {{cfg}} {SECONDS}, got inf",
     "Fix or remove idle_timeout"),
    ("connect_timeout = -1\n", f"connect_timeout in {{cfg}} {SECONDS}, got -1",
     "Fix or remove connect_timeout"),
    ("timeout = 0\n", f"timeout in {{cfg}} {SECONDS}, got 0", "Fix or remove timeout"),
    ('idle_timeout = "30"\n', f"idle_timeout in {{cfg}} {SECONDS}, got '30'",
     "Fix or remove idle_timeout"),
    ("rpm = 0\n", "rpm in {cfg} must be a number above 0 (leave it out when you do not know "
     "the limit), got 0", "Fix or remove rpm"),
    ("tpm = -5\n", "tpm in {cfg} must be a number above 0 (leave it out when you do not know "
     "the limit), got -5", "Fix or remove tpm"),
    ("retries = 101\n", "retries in {cfg} must be a whole number from 0 to 100, got 101",
     "Fix or remove retries"),
    ("retries = true\n", "retries in {cfg} must be a whole number from 0 to 100, got True",
     "Fix or remove retries"),
    ("retries = 1.5\n", "retries in {cfg} must be a whole number from 0 to 100, got 1.5",
     "Fix or remove retries"),
    ("daily_budget = nan\n", "daily_budget in {cfg} must be an amount in USD, 0 or more "
     "(for example 5), got nan", "Fix or remove daily_budget"),
    ("monthly_budget = -1\n", "monthly_budget in {cfg} must be an amount in USD, 0 or more "
     "(for example 5), got -1", "Fix or remove monthly_budget"),
    ('base_url = "http://a\\u0007b/v1"\n', "base_url in {cfg} must not contain spaces or "
     "control characters, got 'http://a\\x07b/v1'", "Fix or remove base_url"),
    ('base_url = "http://host/v1\\r\\nX-Evil: 1"\n', "base_url in {cfg} must not contain "
     "spaces or control characters, got 'http://host/v1\\r\\nX-Evil: 1'",
     "Fix or remove base_url"),
    ('base_url = "localhost:11434"\n', "base_url in {cfg} must start with http:// or "
     "https://, got 'localhost:11434'", "Fix or remove base_url"),
    ('model = ""\n', "model in {cfg} must be a model name in quotes, such as \"gpt-4o-mini\", "
     "got ''", "Fix or remove model"),
    ('fallbacks = ["gpt-4o", 3]\n', "fallbacks in {cfg} must be a list of model names, such "
     "as [\"gpt-4o\", \"gpt-4o-mini\"], got ['gpt-4o', 3]", "Fix or remove fallbacks"),
    ('fallbacks = "gpt-4o"\n', "fallbacks in {cfg} must be a list of model names, such "
     "as [\"gpt-4o\", \"gpt-4o-mini\"], got 'gpt-4o'", "Fix or remove fallbacks"),
    ('log = "yes"\n', "log in {cfg} must be true or false, got 'yes'", "Fix or remove log"),
    ('context_strategy = "drop"\n', "context_strategy in {cfg} must be one of truncate, "
     "summarize, error, got 'drop'", "Fix or remove context_strategy"),
    ('key_name = "my key"\n', "key_name in {cfg} must be one word in quotes, a name from "
     "`talkline keys list` such as \"openai\", got 'my key'", "Fix or remove key_name"),
    ("system = 3\n", "system in {cfg} must be text in quotes, got 3", "Fix or remove system"),
    ("params = 3\n", "[params] in {cfg} must be a table of request parameters such as "
     "temperature = 0.7, got 3", "Fix or remove [params]"),
    ("[catalog]\nfoo = 3\n", "[catalog.foo] in {cfg} must be a table of model fields "
     "(context_window, input, output, ...), got 3", "Fix or remove [catalog.foo]"),
    ('catalog = "none"\n', "[catalog] in {cfg} must be a table of [catalog.MODEL] tables, "
     "got 'none'", "Fix or remove [catalog]"),
    ('[models]\ntiny = "/x.gguf"\n', "[models.tiny] in {cfg} must be a table of model "
     "fields (path = \"/path/to/model.gguf\"), got '/x.gguf'", "Fix or remove [models.tiny]"),
    ('[models.tiny]\npath = "/x.gguf"\nn_ctx = "big"\n', "n_ctx in [models.tiny] in {cfg} "
     "must be a positive whole number, got 'big'", "Fix or remove n_ctx in [models.tiny]"),
    ("[models.tiny]\npath = 5\n", "path in [models.tiny] in {cfg} must be text in quotes, "
     "got 5", "Fix or remove path in [models.tiny]"),
    ("[parms]\ntemperature = 1\n", "Unknown setting 'parms' in {cfg}",
     "Known settings: api, base_url, connect_timeout"),
    ("budget = 5\n", "Unknown setting 'budget' in {cfg}", "Known settings: api, base_url, "),
    ("[params]\ntemperature = nan\n", "temperature must be between 0 and 2, got nan (check "
     "[params] in {cfg} or the command-line flags)", None),
]


@pytest.mark.parametrize(("text", "message", "hint"), BAD_CONFIGS,
                         ids=[t.split("\n")[0] or t for t, _, _ in BAD_CONFIGS])
def test_a_bad_config_file_is_refused_by_name(talkline_home: Path, text: str, message: str,
                                              hint: str | None) -> None:
    cfg = talkline_home / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    r = run("config", "show")
    assert r.code == 2, r.err
    lines = r.err.splitlines()
    assert lines[0] == "Error: " + message.format(cfg=cfg)
    if hint is not None:
        assert lines[1].startswith(hint), r.err
        if hint.startswith("Fix or remove"):
            assert lines[1].endswith(f" in {cfg}."), r.err
    assert "Traceback" not in r.err and r.out == ""


def test_a_bad_config_file_sends_nothing(talkline_home: Path, server: ScriptedServer) -> None:
    (talkline_home / "config.toml").write_text("rpm = 0\n", encoding="utf-8")
    r = run("hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 2 and "rpm in " in r.err and "Traceback" not in r.err
    assert server.chat_requests == []


def test_every_setting_at_a_good_value_is_taken(talkline_home: Path) -> None:
    (talkline_home / "config.toml").write_text(
        'model = "gpt-4o"\nbase_url = "http://127.0.0.1:9/v1"\nsystem = "Be brief."\n'
        "retries = 100\nidle_timeout = 0.5\nconnect_timeout = 1\ntimeout = 60\n"
        'fallbacks = ["gpt-4o-mini"]\nlog = false\nrpm = 0.5\ntpm = 1000\n'
        'key_name = "work"\ndaily_budget = 0\nmonthly_budget = 20.5\n'
        'context_strategy = "error"\n[params]\ntemperature = 0\n'
        '[models.tiny]\npath = "/x.gguf"\nn_ctx = 512\n'
        "[catalog.house]\ncontext_window = 4096\ninput = 1\noutput = 2\n",
        encoding="utf-8")
    s = Settings.resolve()
    assert (s.retries, s.idle_timeout, s.connect_timeout, s.timeout) == (100, 0.5, 1.0, 60.0)
    assert (s.rpm, s.tpm, s.daily_budget, s.monthly_budget) == (0.5, 1000, 0, 20.5)
    assert s.fallbacks == ("gpt-4o-mini",) and s.log is False
    assert s.context_strategy == "error" and s.params.temperature == 0
    r = run("config", "show")
    assert r.code == 0, r.err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--idle-timeout", "nan"), {},
         "Error: idle timeout must be a number of seconds above 0 (for example 30), got nan"),
        (("--idle-timeout", "0"), {},
         "Error: idle timeout must be a number of seconds above 0 (for example 30), got 0.0"),
        (("--budget", "nan"), {},
         "Error: budget must be an amount in USD, 0 or more (for example 5), got nan"),
        ((), {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1\r\nX-Evil: 1"},
         "Error: base URL must not contain spaces or control characters, got "
         "'http://127.0.0.1:9/v1\\r\\nX-Evil: 1'"),
        (("--base-url", "ftp://127.0.0.1/v1"), {},
         "Error: base URL must start with http:// or https://, got 'ftp://127.0.0.1/v1'"),
    ],
)
def test_a_bad_flag_or_environment_value_is_refused(server: ScriptedServer,
                                                    args: tuple[str, ...],
                                                    env: dict[str, str], message: str) -> None:
    full_env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, **env}
    r = run(*args, "hi", env=full_env)
    assert r.code == 2, r.err
    lines = r.err.splitlines()
    assert lines[0] == message
    if "--idle-timeout" in args:
        assert lines[1] == "For example: --idle-timeout 30"
    if "--budget" in args:
        assert lines[1] == "For example: --budget 0.50"
    if "base URL" in message:
        assert lines[1].startswith("For example: --base-url http://localhost:11434/v1")
    assert "Traceback" not in r.err
    assert server.chat_requests == []


def test_the_retries_option_and_the_settings_share_one_range(server: ScriptedServer) -> None:
    retries = next(opt for opt in (make(lambda: None) for make in _REQUEST_OPTIONS)
                   if any(p.name == "retries" for p in opt.__click_params__))
    (param,) = [p for p in retries.__click_params__ if p.name == "retries"]
    assert isinstance(param.type, click.IntRange)
    assert (param.type.min, param.type.max) == (MIN_RETRIES, MAX_RETRIES) == (0, 100)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    r = run("--retries", str(MAX_RETRIES + 1), "hi", env=env)
    assert r.code == 2 and "Traceback" not in r.err
    assert "Invalid value for '--retries': 101 is not in the range 0<=x<=100." in r.err
    assert server.chat_requests == []
    assert run("--retries", str(MAX_RETRIES), "hi", env=env).code == 0
    with pytest.raises(ConfigError) as caught:
        Settings.resolve(retries=MAX_RETRIES + 1)
    assert caught.value.message == "retries must be a whole number from 0 to 100, got 101"
    assert caught.value.hint == "For example: --retries 2"


def test_catalog_fields_are_checked_before_anything_is_sent(talkline_home: Path,
                                                            server: ScriptedServer) -> None:
    cfg = talkline_home / "config.toml"
    cfg.write_text('[catalog.gpt-4o-mini]\ninput = "cheap"\n', encoding="utf-8")
    r = run("hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[0] == (
        f"Error: input in [catalog.gpt-4o-mini] in {cfg} must be a price in USD per million "
        "tokens (a number, 0 or more), got 'cheap'")
    assert server.chat_requests == []
    r = run("models", "--catalog")
    assert r.code == 2 and f"[catalog.gpt-4o-mini] in {cfg}" in r.err


def test_the_catalog_data_goes_through_the_one_toml_loader(tmp_path: Path) -> None:
    data = tmp_path / "models.toml"
    data.write_text('[models.x]\ncontext_window = = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path=data)
    assert caught.value.message.startswith(f"Malformed TOML file {data}, line 2:")
    with pytest.raises(ConfigError) as caught:
        load_toml(tmp_path / "missing.toml")
    assert caught.value.message == f"Cannot read {tmp_path / 'missing.toml'}: it does not exist"
    assert load_toml(tmp_path / "missing.toml", missing_ok=True) == {}


@pytest.mark.parametrize("name", ["my key", "a\x1b[2Jb", ""])
def test_a_key_name_must_be_one_printable_word(talkline_home: Path, name: str) -> None:
    r = run("keys", "set", name, "--value", KEY)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines() == [f"Error: A key name must be one word, got {name!r}",
                                  "For example: talkline keys set openai"]
    assert not (talkline_home / "keys.json").exists() and KEY not in r.err
