"""Templates and roles on the command line, as real subprocesses against the scripted
server: `--template` and each field, `--var` and `[defaults]`, `--save` then `--template`
giving the same request body, the errors (missing variable, broken file), and
`talkline templates list/show/edit/rm`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from talkline.testing import Reply

from .clihelp import SRC, run

KEY = "sk-test-fake-templates"


def env_for(server, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, **extra}


def write(home: Path, name: str, text: str) -> Path:
    folder = home / "templates"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def body_without_noise(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k not in ("stream", "stream_options")}


RICH_FLAGS = ("-m", "gpt-4o", "-s", "You review $PATH carefully.", "-t", "0.4",
              "--top-p", "0.8", "--max-tokens", "120", "--seed", "11", "--stop", "END",
              "--stop", "##", "--presence-penalty", "0.2", "--frequency-penalty", "0.1",
              "-p", "user", "u-7", "-p", "logit_bias", '{"50256": -100}',
              "--schema", "verdict, issues [str], score int", "--context", "error")


def test_save_then_template_sends_the_same_body(server, talkline_home):
    answer = '{"verdict": "fine", "issues": [], "score": 3}'
    server.script(Reply(answer), Reply(answer))
    stdin = "def f(x):\n    return x + $1\n"
    direct = run(*RICH_FLAGS, "--no-stream", "Review this, costs $5", input=stdin,
                 env=env_for(server))
    assert direct.code == 0, direct.err
    wanted = server.chat_requests[-1].body

    saved = run("--save", "rich", *RICH_FLAGS, "Review this, costs $5", env=env_for(server))
    assert saved.code == 0, saved.err
    path = talkline_home / "templates" / "rich.toml"
    assert f'saved template "rich" to {path}' in saved.err
    assert "nothing was sent" in saved.err
    assert len(server.chat_requests) == 1  # --save sends nothing
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert KEY not in path.read_text(encoding="utf-8")
    assert server.url not in path.read_text(encoding="utf-8")

    again = run("--template", "rich", "--no-stream", input=stdin, env=env_for(server))
    assert again.code == 0, again.err
    assert len(server.chat_requests) == 2
    got = server.chat_requests[-1].body
    assert got == wanted
    assert got["stop"] == ["END", "##"]
    assert got["response_format"]["type"] == "json_schema"
    assert got["messages"][0] == {"role": "system", "content": "You review $PATH carefully."}


def test_save_never_writes_the_key_or_base_url_and_refuses_to_overwrite(server, talkline_home):
    r = run("--save", "k", "--key", "sk-test-secret-123", "--base-url", server.url, "-t", "1",
            "hi", env=env_for(server))
    assert r.code == 0, r.err
    text = (talkline_home / "templates" / "k.toml").read_text(encoding="utf-8")
    assert "sk-test-secret-123" not in text and server.url not in text
    assert "temperature = 1" in text

    r = run("--save", "k", "-t", "0", "hi", env=env_for(server))
    assert r.code == 2
    assert 'template "k" exists already' in r.err and "Add --force to replace it" in r.err
    r = run("--save", "k", "--force", "-t", "0", "hi", env=env_for(server))
    assert r.code == 0, r.err
    assert "temperature = 0" in (talkline_home / "templates" / "k.toml").read_text("utf-8")
    assert server.chat_requests == []


@pytest.mark.parametrize("name", [".hidden", "a/b", "x" * 65, "sp ace", "é", "tail\n"])
def test_save_refuses_a_bad_name_with_the_rule(server, name):
    r = run("--save", name, "hi", env=env_for(server))
    assert r.code == 2
    assert "1 to 64 letters, digits, _ . or -, not starting with a dot" in r.err
    assert "Traceback" not in r.err


def test_each_field_reaches_the_request(server, talkline_home):
    write(talkline_home, "full", '''
system = "You are a $lang reviewer."
prompt = "Review this $lang code:\\n\\n$input\\n\\nCost: $$3"
model = "gpt-4.1-mini"
context = "error"

[params]
temperature = 0.1
max_tokens = 64
stop = ["END"]
seed = 3
reasoning_effort = "low"

[defaults]
lang = "Python"

[schema]
type = "object"
properties = { ok = { type = "boolean" } }
required = ["ok"]
additionalProperties = false
''')
    server.script(Reply('{"ok": true}'), Reply('{"ok": false}'))
    r = run("--template", "full", "--no-stream", "print(1)", env=env_for(server))
    assert r.code == 0, r.err
    body = server.chat_requests[-1].body
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [
        {"role": "system", "content": "You are a Python reviewer."},
        {"role": "user", "content": "Review this Python code:\n\nprint(1)\n\nCost: $3"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.1, 64, ["END"], 3)
    assert body["reasoning_effort"] == "low"
    assert body["response_format"]["json_schema"]["schema"]["properties"] == {
        "ok": {"type": "boolean"}}

    # flags given now override the template; --var overrides [defaults]; stdin is $input
    r = run("--template", "full", "--var", "lang", "Rust", "-m", "gpt-4o", "-t", "0.9",
            "--no-stream", input="fn main() {}\n", env=env_for(server))
    assert r.code == 0, r.err
    body = server.chat_requests[-1].body
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.9
    assert body["messages"][1]["content"] == "Review this Rust code:\n\nfn main() {}\n\nCost: $3"


def test_prompt_without_input_is_joined_and_no_prompt_means_the_input(server, talkline_home):
    write(talkline_home, "sum", 'prompt = "Summarise this in $n words"\n[defaults]\nn = 5\n')
    r = run("--template", "sum", "--no-stream", input="long text\n", env=env_for(server))
    assert r.code == 0, r.err
    assert server.chat_requests[-1].body["messages"] == [
        {"role": "user", "content": "long text\n\nSummarise this in 5 words"}]
    write(talkline_home, "sys", 'system = "Be brief."\n')
    r = run("--template", "sys", "--no-stream", "what is TOML?", env=env_for(server))
    assert r.code == 0, r.err
    assert server.chat_requests[-1].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is TOML?"}]


def test_a_template_from_a_path(server, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('system = "From a path."\n', encoding="utf-8")
    r = run("--template", str(path), "--no-stream", "hi", env=env_for(server))
    assert r.code == 0, r.err
    assert server.chat_requests[-1].body["messages"][0]["content"] == "From a path."


def test_a_missing_variable_names_it_and_the_fix_and_nothing_is_sent(server, talkline_home):
    write(talkline_home, "review", 'prompt = "Review this $lang code:\\n$input"\n')
    r = run("--template", "review", "x = 1", env=env_for(server))
    assert r.code == 2
    assert 'template "review" needs $lang: add --var lang VALUE' in r.err
    assert "Traceback" not in r.err
    assert server.chat_requests == []
    assert not (talkline_home / "talkline.db").exists() or _turns(talkline_home) == 0


def test_an_unused_var_and_a_var_without_template_are_refused(server, talkline_home):
    write(talkline_home, "review", 'prompt = "Review this $lang code:\\n$input"\n')
    r = run("--template", "review", "--var", "lang", "Go", "--var", "colour", "red", "x",
            env=env_for(server))
    assert r.code == 2
    assert ('--var colour: template "review" has no $colour (it uses $lang): drop it or fix '
            "the name") in r.err
    r = run("--var", "lang", "Go", "x", env=env_for(server))
    assert r.code == 2 and "--var lang needs --template NAME" in r.err
    r = run("--template", "review", "--var", "lang", "Go", env=env_for(server))
    assert r.code == 2
    assert "give a PROMPT argument or pipe text in" in r.err
    assert server.chat_requests == []


def _turns(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "talkline.db") as db:
        return int(db.execute("select count(*) from messages").fetchone()[0])


@pytest.mark.parametrize(("content", "said"), [
    (b'system = "unclosed\n', "is not valid TOML"),
    (b'system = "caf\xe9"\n', "is not UTF-8"),
    (b'sytem = "typo"\n', "unknown key 'sytem'. Known keys: system, prompt, model"),
    (b"[params]\ntemperature = 9\n", "[params] temperature"),
    (b'context = "forget"\n', "context must be one of truncate, summarize, error"),
    (b'prompt = "costs $ 5"\n', "Write $$ for a literal $"),
    (b"system = 'x'\n# " + b"a" * (256 * 1024) + b"\n", "larger than 256 KiB"),
])
def test_a_broken_template_is_named_with_its_error(server, talkline_home, content, said):
    folder = talkline_home / "templates"
    folder.mkdir()
    (folder / "bad.toml").write_bytes(content)
    r = run("--template", "bad", "hi", env=env_for(server))
    assert r.code == 2, r.err
    assert said in r.err and "bad.toml" in r.err
    assert "Traceback" not in r.err
    assert server.chat_requests == []


def test_template_functions_inside_the_folder_are_loaded(server, talkline_home):
    write(talkline_home, "tooly", 'system = "Use tools."\nfunctions = "tools.py"\n')
    (talkline_home / "templates" / "tools.py").write_text(
        "def shout(text: str) -> str:\n    \"\"\"Upper-case TEXT.\"\"\"\n    return text.upper()\n",
        encoding="utf-8")
    server.script(Reply(content=None, tool_calls=[
        {"id": "c1", "type": "function",
         "function": {"name": "shout", "arguments": '{"text": "hi"}'}}]), Reply("done"))
    r = run("--template", "tooly", "--no-stream", "shout hi", env=env_for(server))
    assert r.code == 0, r.err
    assert [t["function"]["name"] for t in server.chat_requests[0].body["tools"]] == ["shout"]
    assert server.chat_requests[1].body["messages"][-1]["content"] == "HI"


def test_template_functions_outside_the_folder_refused_without_a_terminal(server, tmp_path):
    tools = tmp_path / "elsewhere.py"
    marker = tmp_path / "ran"
    tools.write_text(f"open({str(marker)!r}, 'w').close()\ndef f() -> str:\n    return 'x'\n",
                     encoding="utf-8")
    tpl = tmp_path / "t.toml"
    tpl.write_text('system = "s"\nfunctions = "elsewhere.py"\n', encoding="utf-8")
    full = dict(os.environ, PYTHONPATH=SRC, **env_for(server))
    proc = subprocess.run([sys.executable, "-m", "talkline", "--template", str(tpl), "hi"],
                          capture_output=True, text=True, env=full, start_new_session=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f'Template "t" runs tools from {tools.resolve()}, outside the templates folder' \
        in proc.stderr
    assert ("Move the file into the templates folder, or pass --functions "
            f"{tools.resolve()} explicitly.") in proc.stderr
    assert not marker.exists()  # never imported
    assert server.chat_requests == []


def test_templates_list_show_rm_and_builtins(server, talkline_home):
    r = run("templates", "list", "--json")
    assert r.code == 0, r.err
    rows = {row["name"]: row for row in json.loads(r.out)}
    assert {"editor", "shell", "explain"} <= set(rows)
    assert rows["shell"]["kind"] == "role" and rows["shell"]["source"] == "built-in"

    write(talkline_home, "shell", 'system = "My own shell helper."\n')
    write(talkline_home, "review", 'prompt = "Review:\\n$input"\nmodel = "gpt-4o"\n')
    r = run("templates", "list")
    assert r.code == 0, r.err
    lines = {line.split()[0]: line for line in r.out.splitlines()}
    assert "file (overrides a built-in)" in lines["shell"] and "My own shell helper." in \
        lines["shell"]
    assert "template" in lines["review"] and "Review:" in lines["review"]

    r = run("templates", "show", "review")
    assert r.code == 0 and 'model = "gpt-4o"' in r.out

    r = run("--template", "shell", "--no-stream", "list files", env=env_for(server))
    assert server.chat_requests[-1].body["messages"][0]["content"] == "My own shell helper."
    r = run("templates", "rm", "shell")
    assert r.code == 0 and 'the built-in role "shell" is back' in r.err
    r = run("--template", "shell", "--no-stream", "list files", env=env_for(server))
    assert r.code == 0, r.err
    system = server.chat_requests[-1].body["messages"][0]["content"]
    assert "one shell command for" in system and "no markdown fences" in system
    assert "$os" not in system and "$shell" not in system

    r = run("templates", "rm", "shell")
    assert r.code == 2
    assert '"shell" is a built-in role: it cannot be removed' in r.err
    assert "`talkline templates edit shell`" in r.err
    r = run("templates", "show", "nothing")
    assert r.code == 2 and "`talkline templates list` shows them" in r.err


def test_templates_edit_creates_checks_and_keeps_a_broken_file(tmp_path, talkline_home):
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "%s\\n" "$TEXT" > "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    r = run("templates", "edit", "new1", env={"EDITOR": str(editor),
                                              "TEXT": 'system = "Fresh."'})
    assert r.code == 0, r.err
    path = talkline_home / "templates" / "new1.toml"
    assert path.read_text(encoding="utf-8") == 'system = "Fresh."\n'
    assert 'template "new1" is valid' in r.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    r = run("templates", "edit", "new1", env={"EDITOR": str(editor),
                                              "TEXT": 'system = "oops'})
    assert r.code == 2
    assert "is not valid TOML" in r.err
    assert "The file is kept as you left it" in r.err
    assert path.read_text(encoding="utf-8") == 'system = "oops\n'  # nothing typed is lost

    keep = tmp_path / "keep.sh"  # an editor that changes nothing: the stub must be valid
    keep.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    keep.chmod(0o755)
    r = run("templates", "edit", "stubbed", env={"EDITOR": str(keep)})
    assert r.code == 0, r.err
    r = run("templates", "edit", "editor", env={"EDITOR": str(keep)})
    assert r.code == 0, r.err
    assert "terse copy editor" in (talkline_home / "templates" / "editor.toml").read_text(
        "utf-8")


def test_continue_with_a_template_counts_as_given_now(server, talkline_home):
    write(talkline_home, "pirate", 'system = "Talk like a pirate."\n')
    r = run("-s", "Be brief.", "--no-stream", "first", env=env_for(server))
    assert r.code == 0, r.err
    r = run("-c", "--template", "pirate", "--no-stream", "second", env=env_for(server))
    assert r.code == 0, r.err
    assert ('system prompt replaced for this conversation from this turn on (was: '
            '"Be brief.")') in r.err
    messages = server.chat_requests[-1].body["messages"]
    assert messages[0] == {"role": "system", "content": "Talk like a pirate."}
    assert messages[1:] == [{"role": "user", "content": "first"},
                            {"role": "assistant", "content": "Echo: first"},
                            {"role": "user", "content": "second"}]


@pytest.mark.parametrize("answer", ["y", "n"])
def test_template_functions_outside_the_folder_ask_on_the_terminal(server, tmp_path,
                                                                    talkline_home, answer):
    import pexpect

    tools = tmp_path / "outside.py"
    marker = tmp_path / "imported"
    tools.write_text(f"open({str(marker)!r}, 'w').close()\n"
                     "def ping() -> str:\n    \"\"\"Say pong.\"\"\"\n    return 'pong'\n",
                     encoding="utf-8")
    tpl = tmp_path / "asks.toml"
    tpl.write_text('functions = "outside.py"\n', encoding="utf-8")
    child_env = dict(os.environ, PYTHONPATH=SRC, TALKLINE_HOME=str(talkline_home),
                     NO_COLOR="1", TERM="xterm-256color", **env_for(server))
    child_env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "--template", str(tpl),
                                           "--no-stream", "hi"],
                          env=child_env, encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect_exact(f'Template "asks" runs tools from {tools.resolve()} (outside the '
                       "templates folder). Load them? [y/N] ")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    if answer == "y":
        assert child.exitstatus == 0
        assert marker.exists()
        assert server.chat_requests[-1].body["tools"][0]["function"]["name"] == "ping"
    else:
        assert child.exitstatus == 2
        assert "were not loaded, so nothing was sent" in (child.before or "")
        assert not marker.exists() and server.chat_requests == []
