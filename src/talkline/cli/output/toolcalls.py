"""Tool calls a reply asked for: shown on stdout, one per line, until talkline runs tools."""

from __future__ import annotations

import json
from typing import Any

TOOL_CALLS_NOTICE = ("finish_reason: tool_calls (talkline does not run tools yet; the calls "
                     "are shown above and stored)")


def tool_call_line(call: Any) -> str:
    """`tool call: get_weather({"city": "Paris"})`; arguments that are not JSON as sent."""
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except ValueError:
        arguments = " ".join(str(call.arguments).split())
    return f"tool call: {call.name}({arguments})"


def show_tool_calls(term: Any, message: Any) -> None:
    for call in message.tool_calls:
        term.write_line(tool_call_line(call))


def end_reply(term: Any, message: Any) -> None:
    """End a streamed reply's text (none when it only called tools), then its calls."""
    if message.text or not message.tool_calls:
        term.end_answer()
    show_tool_calls(term, message)
