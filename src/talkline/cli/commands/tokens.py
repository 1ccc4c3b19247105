"""`talkline tokens`: count the tokens of a text, or of a `messages` array as a prompt."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from ..app import current_app

if TYPE_CHECKING:
    from ...types import Message


class InputError(click.ClickException):
    """Unreadable or malformed input: a usage error (exit 2)."""

    exit_code = 2


def _read(file: str | None) -> tuple[str, str]:
    """(text, name for messages) from FILE, or from stdin when FILE is `-` or absent."""
    if file is None or file == "-":
        if file is None and sys.stdin.isatty():
            raise InputError("Give a FILE, or pipe text in: echo 'Hello' | talkline tokens")
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        try:
            with open(file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InputError(f"Cannot read {file}: {exc.strerror or exc}") from None
        name = file
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not UTF-8 text (byte {exc.start})") from None


def _messages(text: str, name: str
              ) -> tuple[list[Message], list[Mapping[str, object]] | None]:
    """The messages (and tools, from a request body) in JSON text; errors say where."""
    from ...types import ROLES, Message  # noqa: F811

    try:
        data = json.loads(text)
    except ValueError as exc:
        where = (f"line {exc.lineno}, column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise InputError(f"{name} is not valid JSON ({where}): "
                         f"{getattr(exc, 'msg', exc)}") from None
    tools = None
    if isinstance(data, dict) and "messages" in data:
        tools = data.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise InputError(f"{name}: 'tools' must be an array")
        data = data["messages"]
    if not isinstance(data, list):
        raise InputError(f"{name} must hold a JSON array of messages "
                         '(like [{"role": "user", "content": "Hi"}]), or a request body '
                         "with a 'messages' array")
    out: list[Message] = []
    for i, item in enumerate(data):
        where = f"{name}: messages[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{where} must be an object, got {type(item).__name__}")
        role = item.get("role")
        if role not in ROLES:
            raise InputError(f"{where}: role must be one of {', '.join(ROLES)}; got {role!r}")
        content = item.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InputError(f"{where}: content must be a string, an array of parts or "
                             f"null; got {type(content).__name__}")
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise InputError(f"{where}: every content part must be an object")
        if item.get("name") is not None and not isinstance(item["name"], str):
            raise InputError(f"{where}: name must be a string")
        calls = item.get("tool_calls")
        if calls is not None and (not isinstance(calls, list)
                                  or not all(isinstance(c, dict) for c in calls)):
            raise InputError(f"{where}: tool_calls must be an array of objects")
        out.append(Message.from_dict(item))
    return out, tools


@click.command("tokens")
@click.argument("file", required=False)
@click.option("-m", "--model",
              help="Count as this model does (default gpt-4o-mini, or `local` with no key and "
                   "no server; TALKLINE_MODEL or config.toml set another).")
@click.option("--messages", "as_messages", is_flag=True,
              help="The input is a JSON messages array: count it as the API counts a prompt.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tokens(file: str | None, model: str | None, as_messages: bool, as_json: bool) -> None:
    """Count the tokens in FILE (or standard input, with `-` or a pipe).

    \b
    talkline tokens notes.txt -m gpt-4o
    cat prompt.json | talkline tokens --messages -m gpt-4.1

    Plain text is counted exactly as the model's encoding splits it, with no message
    overhead. Models whose tokenizer is not known get an estimate, marked as such.
    """
    from ...planning.local_counts import local_counters
    from ...planning.tokens import TokenCounter as TokenCounter
    from ...settings import Settings as Settings

    settings = Settings.resolve()
    model = model or settings.model
    text, name = _read(file)
    counter = TokenCounter(exact=local_counters(settings))
    if as_messages:
        msgs, tools = _messages(text, name)
        count = counter.count_messages(msgs, model, tools=tools)
    else:
        count = counter.count_text(text, model)
    term = current_app().term
    if as_json:
        term.write_line(json.dumps({"model": model, "tokens": count.tokens,
                                    "exact": count.exact, "method": count.method}))
    else:
        term.write_line(str(count.tokens))
    if not count.exact:
        why = ("tool calls, tool definitions or images are approximated"
               if count.method.startswith("tiktoken") else f"no tokenizer known for {model}")
        term.status(f"(estimate: {why})")
