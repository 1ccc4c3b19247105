"""Token counting: equal to tiktoken's own counts, offline, with the API's message overhead."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import talkline.planning.tokens as tokens_mod
from talkline.planning.tokens import (
    Estimator,
    TokenCounter,
    count_messages,
    count_text,
    encoding_for_model,
    get_encoding,
)
from talkline.types import Message, ToolCall

from .clihelp import SRC

DATA = tokens_mod._DATA
ENCODINGS = ("o200k_base", "cl100k_base")
MODEL_FOR = {"o200k_base": "gpt-4o", "cl100k_base": "gpt-4"}

CORPUS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Größe, Maß, Straße.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "我能吞下玻璃而不伤身体。这是一个测试句子，用于计算词元。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ",
    "صِف خَلقَ خَودِ كَمِثلِ الشَمسِ إِذ بَزَغَت",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "😀🎉👍🏽 ❤️‍🔥 👨‍👩‍👧‍👦 🇫🇷",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id DESC;\n",
    '{"role": "user", "content": "What\'s the weather like in Paris?", "n": 12345678}',
    "   leading spaces\t\ttabs\r\nCRLF\n\n\n   trailing   ",
    "URLs: https://example.com/path?q=1&r=two#frag and emails a.b@c.de",
    "Numbers 3.14159 2,718 1e-10 0x1F 123456789012345",
    "Special-token text: <|endoftext|> <|fim_prefix|> <|im_start|>user",
    "I'm sure they'll say it's what we've wanted; THEY'LL SAY IT'S WHAT WE'VE WANTED.",
    "Ünïcödé façade naïve café résumé coöperate ﬁ ligature Ω≈ç√∫",
    "\u200b zero width \u00a0 no-break \ufeff bom \u2028 line sep",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 400,
    "<html><body><h1>Title</h1><p>Paragraph &amp; more</p></body></html>",
    "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n- item\n- **bold** _it_ `code`\n",
]


def _official_cache(tmp: Path) -> Path:
    """A TIKTOKEN_CACHE_DIR holding the bundled files under tiktoken's own cache names."""
    cache = tmp / "tiktoken-cache"
    cache.mkdir(exist_ok=True)
    for name in ENCODINGS:
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        with gzip.open(DATA / f"{name}.tiktoken.gz", "rb") as fh:
            (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(fh.read())
    return cache


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """tiktoken's own encodings (tiktoken_ext.openai_public), loaded without a network."""
    import tiktoken

    cache = _official_cache(tmp_path_factory.mktemp("official"))
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        yield {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    finally:
        if old is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = old


# ---------------------------------------------------------------- equal to tiktoken


@pytest.mark.parametrize("name", ENCODINGS)
def test_corpus_counts_equal_tiktokens_own(name: str, official: dict[str, Any]) -> None:
    ours = get_encoding(name)
    assert ours is not None
    theirs = official[name]
    for text in CORPUS:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text[:40]
        assert count_text(text, MODEL_FOR[name]).tokens == len(theirs.encode_ordinary(text))


@pytest.mark.parametrize("name", ENCODINGS)
def test_special_tokens_are_the_same(name: str, official: dict[str, Any]) -> None:
    ours = get_encoding(name)
    assert ours is not None
    assert ours.special_tokens_set == official[name].special_tokens_set
    assert ours.n_vocab == official[name].n_vocab


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_random_text_counts_equal_tiktokens_own(official: dict[str, Any], text: str) -> None:
    for name in ENCODINGS:
        ours = get_encoding(name)
        assert ours is not None
        assert ours.encode_ordinary(text) == official[name].encode_ordinary(text)


def test_bundled_files_match_tiktokens_expected_hashes() -> None:
    import importlib.util

    spec = importlib.util.find_spec("tiktoken_ext.openai_public")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    for name in ENCODINGS:
        with gzip.open(DATA / f"{name}.tiktoken.gz", "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        assert digest in source, name
    assert (DATA / "LICENSE").read_text().startswith("MIT License")


def test_a_damaged_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gzip.open(tmp_path / "cl100k_base.tiktoken.gz", "wb") as fh:
        fh.write(b"SGVsbG8= 0\n")
    monkeypatch.setattr(tokens_mod, "_DATA", tmp_path)
    monkeypatch.setattr(tokens_mod, "_encodings", {})
    with pytest.raises(RuntimeError, match="damaged"):
        get_encoding("cl100k_base")


# ---------------------------------------------------------------- models and overhead


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.1", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("llama3.2", None),
        ("local", None),
        ("mistral-large", None),
        ("o10-model", None),
        ("gpt-4.2", None),
    ],
)
def test_encoding_for_model(model: str, encoding: str | None) -> None:
    assert encoding_for_model(model) == encoding


# The OpenAI cookbook's example prompt, and the prompt_tokens the API reported for it.
COOKBOOK = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that "
     "translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user",
     "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant",
     "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have "
     "more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant",
     "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean "
     "for the client deliverable."},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124),
     ("gpt-4o-mini", 124)],
)
def test_cookbook_prompt_counts_as_the_api_reported(model: str, expected: int) -> None:
    count = count_messages(COOKBOOK, model)
    assert count == tokens_mod.Count(expected, True, count.method)


COOKBOOK_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string",
                             "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return",
                         "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}]


@pytest.mark.parametrize(("model", "expected"), [("gpt-3.5-turbo", 105), ("gpt-4o", 101)])
def test_cookbook_tool_prompt_counts_as_the_api_reported(model: str, expected: int) -> None:
    msgs = [
        {"role": "system", "content": "You are a helpful assistant that can answer to "
         "questions about the weather."},
        {"role": "user", "content": "What's the weather like in San Francisco?"},
    ]
    count = count_messages(msgs, model, tools=COOKBOOK_TOOLS)
    assert count.tokens == expected
    assert not count.exact  # the tool rule is an approximation


def test_message_overhead_follows_the_rule() -> None:
    enc = get_encoding("o200k_base")
    assert enc is not None
    text = "How many tokens is this?"
    n = len(enc.encode_ordinary(text))
    role = len(enc.encode_ordinary("user"))
    assert count_messages([Message("user", text)], "gpt-4o").tokens == 3 + role + n + 3
    named = count_messages([Message("user", text, name="alice")], "gpt-4o").tokens
    assert named == 3 + role + n + len(enc.encode_ordinary("alice")) + 1 + 3
    # gpt-3.5-turbo-0301: 4 per message, a name replaces the role.
    old = count_messages([Message("user", text, name="alice")], "gpt-3.5-turbo-0301")
    cl = get_encoding("cl100k_base")
    assert cl is not None
    assert old.tokens == (4 + len(cl.encode_ordinary("user")) + len(cl.encode_ordinary(text))
                          + len(cl.encode_ordinary("alice")) - 1 + 3)


def test_text_parts_images_and_tool_calls() -> None:
    parts = Message("user", [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}])
    joined = count_messages([Message("user", "Hello")], "gpt-4o").tokens + 1  # "!" is 1
    assert count_messages([parts], "gpt-4o") == tokens_mod.Count(joined, True,
                                                                  "tiktoken:o200k_base")
    plain = count_messages([Message("user", "Hello")], "gpt-4o")
    low = count_messages([Message("user", [
        {"type": "text", "text": "Hello"},
        {"type": "image_url", "image_url": {"url": "data:,", "detail": "low"}},
    ])], "gpt-4o")
    assert low.tokens == plain.tokens + 85 and not low.exact
    call = Message("assistant", None, tool_calls=(ToolCall("c1", "get_weather", '{"a": 1}'),))
    counted = count_messages([call], "gpt-4o")
    assert not counted.exact and counted.tokens > 6


def test_special_token_text_counts_as_plain_text() -> None:
    count = count_text("<|endoftext|>", "gpt-4o")
    assert count.exact and count.tokens > 1


# ---------------------------------------------------------------- cache and estimates


def test_the_cache_makes_recounting_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = TokenCounter()
    history = [Message("system", "Be brief.")]
    for i in range(50):
        history += [Message("user", f"question {i} " * 20), Message("assistant", f"a{i} " * 30)]
    first = counter.count_messages(history, "gpt-4o")
    enc = get_encoding("o200k_base")
    assert enc is not None
    calls: list[str] = []
    real = enc.encode_ordinary

    def spy(text: str) -> list[int]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(enc, "encode_ordinary", spy)
    assert counter.count_messages(history, "gpt-4o") == first
    assert calls == []
    history.append(Message("user", "one more"))
    grown = counter.count_messages(history, "gpt-4o")
    assert calls == ["user", "one more"]
    assert grown.tokens == first.tokens + 3 + 1 + len(real("one more"))


def test_cache_is_bounded() -> None:
    counter = TokenCounter(max_entries=100)
    counter.count_messages([Message("user", f"m{i}") for i in range(500)], "gpt-4o")
    assert len(counter._cache) <= 100


def test_unknown_models_get_a_marked_estimate() -> None:
    count = count_text("abcd" * 100, "llama3.2")
    assert count == tokens_mod.Count(100, False, "estimate")
    msgs = count_messages([Message("user", "abcd" * 100)], "llama3.2")
    assert not msgs.exact and msgs.tokens == 100 + 4 + 1 + 3  # text, per message, role, reply


def test_estimator_calibrates_from_usage() -> None:
    counter = TokenCounter()
    history = [Message("user", "word " * 400)]
    before = counter.count_messages(history, "my-model").tokens
    counter.observe("my-model", estimated=before, actual=before * 2)
    after = counter.count_messages(history, "my-model").tokens
    assert abs(after - before * 2) <= 3
    # A second observation moves half-way only.
    counter.observe("my-model", estimated=after, actual=after)
    assert abs(counter.count_messages(history, "my-model").tokens - after) <= 1
    # Exactly counted models ignore observations.
    gpt = counter.count_messages(history, "gpt-4o")
    counter.observe("gpt-4o", estimated=gpt.tokens, actual=gpt.tokens * 3)
    assert counter.count_messages(history, "gpt-4o") == gpt


def test_estimator_ratio_is_clamped() -> None:
    est = Estimator()
    est.observe(1, 10_000)
    assert est.ratio == Estimator.MAX_RATIO
    est.observe(0, 5)  # ignored
    est.observe(10, -1)  # ignored
    assert est.ratio == Estimator.MAX_RATIO and est.observations == 1
    assert est.estimate("") == 0


def test_without_tiktoken_counts_become_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_mod, "_encodings", {})
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    count = TokenCounter().count_text("Hello, world", "gpt-4o")
    assert not count.exact and count.method == "estimate"


# ---------------------------------------------------------------- offline, for real

_NO_NETWORK = '''
import socket
_real = socket.socket.connect
def _connect(self, address):
    host = address[0] if isinstance(address, tuple) else ""
    if host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
        open(__import__("os").environ["NET_LOG"], "a").write(repr(address) + "\\n")
        raise OSError("network access is blocked in this test")
    return _real(self, address)
socket.socket.connect = _connect
'''

_COUNT_SCRIPT = '''
import json, sys
from talkline.planning.tokens import count_text, count_messages
texts = json.loads(sys.stdin.read())
out = {"o200k": [count_text(t, "gpt-4o").tokens for t in texts],
       "cl100k": [count_text(t, "gpt-4").tokens for t in texts],
       "exact": count_text("x", "gpt-4o").exact,
       "messages": count_messages(json.loads(sys.argv[1]), "gpt-4o").tokens}
print(json.dumps(out))
'''


def test_counts_offline_with_the_network_blocked(tmp_path: Path, official: dict[str, Any]
                                                 ) -> None:
    home = tmp_path / "home"
    cache = tmp_path / "empty-cache"
    site = tmp_path / "site"
    for d in (home, cache, site):
        d.mkdir()
    (site / "sitecustomize.py").write_text(_NO_NETWORK)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TIKTOKEN_CACHE_DIR": str(cache),
        "PYTHONPATH": os.pathsep.join([str(site), SRC]),
        "NET_LOG": str(tmp_path / "net.log"),
        "NO_PROXY": "",
    }
    prefix: list[str] = []
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        prefix = [unshare, "-n"]  # no network namespace at all: only an isolated loopback
    texts = CORPUS[:12]
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", _COUNT_SCRIPT, json.dumps(COOKBOOK)],
        input=json.dumps(texts), capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["o200k"] == [len(official["o200k_base"].encode_ordinary(t)) for t in texts]
    assert result["cl100k"] == [len(official["cl100k_base"].encode_ordinary(t)) for t in texts]
    assert result["exact"] is True
    assert result["messages"] == 124
    assert not (tmp_path / "net.log").exists()  # not even an attempt
    assert list(cache.iterdir()) == []  # tiktoken's download cache was never used

    cli = subprocess.run(
        [*prefix, sys.executable, "-c",
         "from talkline.cli.commands.tokens import tokens; tokens(['-m', 'gpt-4o'])"],
        input="Hello, offline world!", capture_output=True, text=True, env=env, timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout == f"{len(official['o200k_base'].encode_ordinary('Hello, offline world!'))}\n"


# ---------------------------------------------------------------- `talkline tokens`


def _invoke(args: list[str], input: str | None = None) -> Any:
    from click.testing import CliRunner

    from talkline.cli.commands.tokens import tokens

    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    return runner.invoke(tokens, args, input=input)


def test_cli_counts_a_file_and_stdin(tmp_path: Path) -> None:
    text = CORPUS[10] + CORPUS[5]
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    expected = count_text(text, "gpt-4o").tokens
    for args, stdin in ((["-m", "gpt-4o", str(tmp_path / "t.txt")], None),
                        (["-m", "gpt-4o", "-"], text), (["-m", "gpt-4o"], text)):
        r = _invoke(args, stdin)
        assert r.exit_code == 0, r.output
        assert r.stdout == f"{expected}\n" and r.stderr == ""


def test_cli_json_and_estimate_note() -> None:
    r = _invoke(["-m", "llama3.2", "--json"], "abcd" * 10)
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"model": "llama3.2", "tokens": 10, "exact": False,
                                    "method": "estimate"}
    assert r.stderr == "(estimate: no tokenizer known for llama3.2)\n"


def test_cli_messages_counts_as_a_prompt() -> None:
    r = _invoke(["-m", "gpt-4o", "--messages"], json.dumps(COOKBOOK))
    assert (r.exit_code, r.stdout) == (0, "124\n")
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "You are a helpful "
            "assistant that can answer to questions about the weather."}, {"role": "user",
            "content": "What's the weather like in San Francisco?"}], "tools": COOKBOOK_TOOLS}
    r = _invoke(["-m", "gpt-4o", "--messages"], json.dumps(body))
    assert (r.exit_code, r.stdout) == (0, "101\n")
    assert "approximated" in r.stderr


def test_cli_model_defaults_to_the_configured_one(talkline_home: Path) -> None:
    (talkline_home / "config.toml").write_text('model = "gpt-4"\n')
    r = _invoke([], "Hello there")
    assert r.stdout == f"{count_text('Hello there', 'gpt-4').tokens}\n"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("[{\"role\": \"user\", \"content\": \"hi\"},\n  {\"role\": }]",
         "Error: standard input is not valid JSON (line 2, column 12): Expecting value"),
        ('{"role": "user"}', "must hold a JSON array of messages"),
        ('[{"role": "user", "content": "hi"}, {"role": "assistance", "content": "x"}]',
         "Error: standard input: messages[1]: role must be one of system, developer, user, "
         "assistant, tool; got 'assistance'"),
        ('[{"role": "user", "content": 5}]', "messages[0]: content must be a string"),
        ('["hi"]', "messages[0] must be an object, got str"),
        ('{"messages": [], "tools": {}}', "'tools' must be an array"),
    ],
)
def test_cli_bad_messages_say_what_and_where(stdin: str, message: str) -> None:
    r = _invoke(["-m", "gpt-4o", "--messages", "-"], stdin)
    assert r.exit_code == 2
    assert message in r.stderr


def test_cli_unreadable_input(tmp_path: Path) -> None:
    r = _invoke(["-m", "gpt-4o", str(tmp_path / "missing.txt")])
    assert r.exit_code == 2
    assert f"Error: Cannot read {tmp_path / 'missing.txt'}: No such file or directory" in r.stderr
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00bad")
    r = _invoke(["-m", "gpt-4o", str(tmp_path / "bin")])
    assert r.exit_code == 2 and "is not UTF-8 text" in r.stderr
