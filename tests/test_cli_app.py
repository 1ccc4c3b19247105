"""The CLI's application object and its one answer function: typed signatures, one
Terminal, messages built from structured events, the warnings of `show_answer`, and a
`--help` listing drawn from summaries that are the commands' own."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import click
import pytest

from talkline.errors import APIConnectionError, ServerError, StreamInterrupted
from talkline.retry import RetryEvent
from talkline.testing import Error, Reply

from .clihelp import run

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "src" / "talkline" / "cli"
KEY = "sk-test-fake-cli-app-5678"
# The settings developer's files (issue #12 item 4): they move to the App's Terminal with
# that work; until then they are left out of the one-Terminal check.


def env_for(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


# ---------------------------------------------------------------- typed signatures


def _is_click_callback(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with `@click.command`, `@click.group` or `@<group>.command(...)`."""
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute) and target.attr in ("command", "group"):
            return True
    return False


def _mentions_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Any":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
            "Any" in node.value.replace("[", " ").replace("]", " ").replace(",", " ").split()
        ):
            return True
    return False


def any_in_signatures(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if not _is_click_callback(node):  # a click callback's **opts is click's own
            params += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in params:
            if _mentions_any(arg.annotation):
                found.append(f"{where}:{node.lineno} {node.name}({arg.arg})")
        if _mentions_any(node.returns):
            found.append(f"{where}:{node.lineno} {node.name} -> ...")
    return found


def test_no_any_in_cli_signatures_but_click_callbacks_opts():
    found = []
    for path in sorted(CLI.rglob("*.py")):
        found += any_in_signatures(path.read_text(encoding="utf-8"),
                                   str(path.relative_to(ROOT)))
    assert not found, "type these (no Any in cli signatures):\n" + "\n".join(found)


def test_the_any_check_finds_what_it_must():
    source = '''
import click
from typing import Any
def helper(x: Any) -> int: ...
def back() -> "dict[str, Any]": ...
def rest(**kw: Any) -> None: ...
@click.command()
def cmd(name: str, **opts: Any) -> None: ...
@click.command()
def bad(name: Any) -> None: ...
'''
    found = any_in_signatures(source, "x.py")
    assert [f.split()[1] for f in found] == ["helper(x)", "back", "rest(kw)", "bad(name)"]


# ---------------------------------------------------------------- one Terminal


def test_commands_write_through_the_apps_one_terminal():
    made, echoed = [], []
    for path in sorted(CLI.rglob("*.py")):
        where = str(path.relative_to(CLI))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            if name == "Terminal" and where != "app.py":
                made.append(f"{where}:{node.lineno}")
            if name in ("echo", "secho") or (
                isinstance(node.func, ast.Attribute) and name == "write"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr in ("stdout", "stderr")
            ):
                echoed.append(f"{where}:{node.lineno}")
    assert not made, "Terminal() outside cli/app.py: " + ", ".join(made)
    assert not echoed, "output that bypasses the Terminal: " + ", ".join(echoed)


# ---------------------------------------------------------------- retry lines from fields


def test_retry_line_after_shown_tokens_says_retried_from_the_fields():
    from talkline.cli.output.progress import retry_message

    cut = StreamInterrupted("stream ended early", cause=APIConnectionError("reset"))
    event = RetryEvent(1, 3, cut, 0.5, why="any words at all", after_tokens=12)
    assert retry_message(event) == "connection dropped after 12 tokens; retried (attempt 2 of 3)"

    server_said = StreamInterrupted("broke", cause=ServerError("overloaded", status=503))
    event = RetryEvent(2, 4, server_said, 1.0, after_tokens=5)
    assert retry_message(event) == (
        "the server sent an error after 5 tokens (overloaded); retried (attempt 3 of 4)")


def test_retry_line_before_any_token_says_when_it_retries():
    from talkline.cli.output.progress import retry_message

    event = RetryEvent(1, 3, ServerError("Bad gateway.\nmore", status=502), 1.5,
                       why="retried", after_tokens=None)
    assert retry_message(event) == "Bad gateway; retrying in 1.5s (attempt 2 of 3)"


def test_cli_tells_each_retry_before_any_token(server):
    server.script(Error(status=503, message="The engine is overloaded."), Reply("Paris."))
    r = run("--retries", "2", "capital of France?", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "Paris.\n"
    assert "retrying in" in r.err and "(attempt 2 of 3)" in r.err


# ---------------------------------------------------------------- show_answer's warnings


def test_one_shot_content_filter_warning_says_what_to_do(server):
    server.script(Reply("Part of it", finish_reason="content_filter"))
    r = run("tell me", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "Part of it\n"
    assert "stopped by the provider's content filter" in r.err
    assert "Rephrase the request" in r.err


def test_one_shot_cut_off_warning_names_max_tokens(server):
    server.script(Reply("A long answer, cut", finish_reason="length"))
    r = run("tell me", env=env_for(server))
    assert r.code == 0, r.err
    assert "cut off by the token limit" in r.err and "Raise --max-tokens" in r.err


def test_repl_cut_off_warning_names_continue(server):
    server.script(Reply("A long reply, cut", finish_reason="length"))
    r = run("chat", input="tell me\n", env=env_for(server))
    assert r.code == 0, r.err
    assert "A long reply, cut" in r.out
    assert "cut off by the token limit" in r.err and "/continue asks for more" in r.err


def test_repl_and_one_shot_show_the_same_tool_calls(server):
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    server.script(Reply(content=None, tool_calls=[call]), Reply(content=None, tool_calls=[call]))
    one = run("weather?", env=env_for(server))
    repl = run("chat", input="weather?\n", env=env_for(server))
    line = 'tool call: get_weather({"city": "Paris"})'
    assert line in one.out and line in repl.out
    fix = "--functions FILE.py"
    assert fix in one.err and fix in repl.err


# ---------------------------------------------------------------- the --help listing


def test_help_summaries_are_the_commands_own():
    from talkline.cli import _COMMANDS

    for name, (module, attr, summary) in _COMMANDS.items():
        command: click.Command = getattr(importlib.import_module(module), attr)
        first = (command.help or "").partition("\n\n")[0]
        assert " ".join(first.split()) == summary, name


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_listing_is_the_one_click_draws_from_the_commands(width):
    from talkline.cli import cli

    ctx = click.Context(cli, info_name="talkline")
    lazy, eager = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
    cli.format_commands(ctx, lazy)
    click.Group.format_commands(cli, ctx, eager)
    assert lazy.getvalue() == eager.getvalue()
    assert "prompt" in lazy.getvalue()
