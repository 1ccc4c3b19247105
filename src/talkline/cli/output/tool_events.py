"""The tool loop on the terminal: each call on stderr as it runs, the y/N question of
`--tool-approve` (asked on the terminal, never on stdin), and what the loop cost."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from .sanitize import sanitize

if TYPE_CHECKING:
    from ...tools import ToolResult
    from ...types import ChatResponse, ToolCall
    from .terminal import Terminal

__all__ = ["TerminalApproval", "ToolEvents", "budget_stopped_notice", "chain_limit_notice",
           "loop_cost_line"]

NO_TERMINAL = ("--tool-approve asks y/N on the terminal before each call, and there is no "
               "terminal to ask on. Run talkline from a terminal, or leave --tool-approve out "
               "to run the calls without asking.")
SHORT = 60


def arguments_text(call: ToolCall, limit: int | None = SHORT) -> str:
    """The arguments on one line (compact JSON when they are JSON), cut to `limit`."""
    try:
        text = json.dumps(json.loads(call.arguments or "{}"), ensure_ascii=False)
    except ValueError:
        text = " ".join(call.arguments.split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class ToolEvents:
    """`on_tool` for the CLI: `tool: get_weather({"city": "Paris"}) -> sunny (0.01 s)`."""

    def __init__(self, term: Terminal, *, debug: bool = False) -> None:
        self.term = term
        self.debug = debug
        self.calls = 0

    def __call__(self, result: ToolResult) -> None:
        self.calls += 1
        call = f"tool: {result.name}({arguments_text(result.call, None if self.debug else SHORT)})"
        took = f"({result.seconds:.2f} s)"
        if result.refused:
            self.term.warn(f"{call} refused: not run, the model is told so")
        elif result.error is not None:
            self.term.warn(f"{call} failed {took}: {result.error}")
        elif self.debug:
            self.term.status(f"{call} {took} returned:")
            for line in result.output.splitlines() or [""]:
                self.term.status(f"  {line}")
        else:
            self.term.status(f"{call} -> {result.summary(SHORT)} {took}")


class TerminalApproval:
    """`approve` for `--tool-approve`: asks on /dev/tty (stdin may be the prompt)."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        try:
            self.fd = os.open(os.ctermid(), os.O_RDWR | os.O_NOCTTY)
        except OSError:
            raise click.UsageError(NO_TERMINAL) from None

    def __call__(self, call: ToolCall) -> bool:
        self.term.pause_spinner()
        # The whole arguments (what is approved must be seen), made safe for the terminal.
        question = sanitize(f"run {call.name}({arguments_text(call, None)})? [y/N] ")
        os.write(self.fd, question.encode("utf-8", "replace"))
        answer = b""
        while len(answer) < 64:
            ch = os.read(self.fd, 1)
            if ch in (b"", b"\n", b"\r"):
                break
            answer += ch
        return answer.decode("utf-8", "replace").strip().lower() in ("y", "yes")

    def close(self) -> None:
        os.close(self.fd)


def loop_cost_line(response: ChatResponse, calls: int) -> str | None:
    """`tools: 2 calls in 2 requests cost 120 tokens (100 prompt + 20 completion)`."""
    if not response.tool_messages:
        return None
    requests = sum(1 for m in response.tool_messages if m.role == "assistant") + 1
    u = response.loop_usage
    cost = (f"{u.total_tokens} tokens ({u.prompt_tokens} prompt + {u.completion_tokens} "
            "completion)") if u is not None else "tokens the server did not report"
    return f"tools: {calls} call{'s' * (calls != 1)} in {requests} requests cost {cost}"


def budget_stopped_notice(reason: str) -> str:
    return (f"Warning: the tool loop stopped before its next request: {reason} The model's "
            "last calls (above) were not run. Raise --budget (or the daily or monthly "
            "budget) to let it go on.")


def chain_limit_notice(limit: int) -> str:
    return (f"Warning: the tool loop stopped at its chain limit ({limit} rounds of calls): the "
            "model's last calls (above) were not run. Raise the limit with --chain-limit N.")
