"""Tool calls a reply left unanswered (no `--functions` given, or the chain limit was
reached): shown on stdout, one per line."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...types import Message, ToolCall
    from .terminal import Terminal

TOOL_CALLS_NOTICE = ("finish_reason: tool_calls (the calls are shown above and stored; to "
                     "have talkline run them, give the functions with --functions FILE.py)")


def tool_call_line(call: ToolCall) -> str:
    """`tool call: get_weather({"city": "Paris"})`; arguments that are not JSON as sent."""
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except ValueError:
        arguments = " ".join(str(call.arguments).split())
    return f"tool call: {call.name}({arguments})"


def show_tool_calls(term: Terminal, message: Message) -> None:
    for call in message.tool_calls:
        term.write_line(tool_call_line(call))


def end_reply(term: Terminal, message: Message) -> None:
    """End a streamed reply's text (none when it only called tools), then its calls."""
    if message.text or not message.tool_calls:
        term.end_answer()
    show_tool_calls(term, message)
