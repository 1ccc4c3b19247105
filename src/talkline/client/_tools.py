"""The tool loop, written once over `plan` (no I/O): ask, run the reply's calls, send
the results back, ask again, until the model answers without calls or the chain limit.

`tool_plan` yields the same steps as `plan`, and one more, `RunTools`: the driver runs
the calls (`Client` calls the functions, `AsyncClient` awaits async ones and runs the
others in a thread) and sends back their `ToolResult`s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ParamError
from ..tools import Approve, Tool, ToolResult, ToolRunner, as_tools
from ..types import ChatParams, ChatResponse, Message, Usage
from ._core import Core
from ._plan import Plan, RunTools, plan

__all__ = ["DEFAULT_CHAIN_LIMIT", "RoundCheck", "ToolOptions", "sum_usage", "tool_plan"]

DEFAULT_CHAIN_LIMIT = 5

# Asked before each round of calls is run (so before the request that answers them): the
# conversation so far and what the loop has cost; a refusal (its reason) ends the loop.
RoundCheck = Callable[[Sequence[Message], "Usage | None"], "str | None"]


@dataclass(frozen=True)
class ToolOptions:
    """A call's `tools=`, `approve=`, `chain_limit=`, `on_tool=` and `before_round=`,
    checked."""

    tools: tuple[Tool, ...]
    approve: Approve | None = None
    chain_limit: int = DEFAULT_CHAIN_LIMIT
    on_tool: Callable[[ToolResult], None] | None = None
    before_round: RoundCheck | None = None

    @classmethod
    def of(cls, tools: Sequence[Any] | None, approve: Approve | None, chain_limit: int,
           on_tool: Callable[[ToolResult], None] | None,
           before_round: RoundCheck | None = None) -> ToolOptions | None:
        if isinstance(chain_limit, bool) or not isinstance(chain_limit, int) or (
                chain_limit < 1):
            raise ParamError(f"chain_limit must be a whole number of at least 1, got "
                             f"{chain_limit!r}")
        if not tools:
            return None
        return cls(as_tools(tools), approve, chain_limit, on_tool, before_round)

    def params(self, params: ChatParams) -> ChatParams:
        """`params` with these tools sent (over any of `params.tools` of the same name)."""
        ours = {t.name for t in self.tools}
        kept = [t for t in params.tools or () if (t.get("function") or {}).get("name")
                not in ours]
        return params.merge(tools=tuple(kept) + tuple(t.to_dict() for t in self.tools))


def tool_plan(core: Core, messages: list[Message], params: ChatParams, options: ToolOptions,
              *, stream: bool, resume: bool) -> Plan:
    """Up to `chain_limit` rounds of calls. The response returned is the last one, with
    the messages the loop added (`tool_messages`), the usage summed over every request
    (`loop_usage`) and, when the model still asked for calls at the limit,
    `chain_limit_reached` (those calls are not run: they stay in the response).
    `before_round` is asked before each round's calls are run; its refusal ends the loop
    the same way, as `budget_stopped`."""
    runner = ToolRunner(options.tools, approve=options.approve, on_tool=options.on_tool)
    sent = options.params(params)
    conversation = list(messages)
    added: list[Message] = []
    usages: list[Usage | None] = []
    rounds = 0
    while True:
        response = yield from plan(core, conversation, sent, stream=stream, resume=resume)
        usages.append(response.usage)
        calls = response.message.tool_calls
        if not calls or not runner.runs_all(calls):
            break
        if rounds >= options.chain_limit:
            return _final(response, added, usages, limit=options.chain_limit)
        if options.before_round is not None:
            refusal = options.before_round([*conversation, response.message],
                                           sum_usage(usages))
            if refusal:
                return _final(response, added, usages, limit=None).replace(
                    budget_stopped=refusal, loop_usage=sum_usage(usages))
        results: list[ToolResult] = yield RunTools(runner, calls)
        step = [response.message, *(r.message() for r in results)]
        added.extend(step)
        conversation.extend(step)
        rounds += 1
    return _final(response, added, usages, limit=None)


def _final(response: ChatResponse, added: list[Message], usages: list[Usage | None],
           limit: int | None) -> ChatResponse:
    if not added:
        return response.replace(chain_limit_reached=limit)
    return response.replace(tool_messages=tuple(added), loop_usage=sum_usage(usages),
                            chain_limit_reached=limit)


def sum_usage(usages: Sequence[Usage | None]) -> Usage | None:
    """The tokens of every request of the loop (None when no request reported any)."""
    known = [u for u in usages if u is not None]
    if not known:
        return None
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in known),
        completion_tokens=sum(u.completion_tokens for u in known),
        total_tokens=sum(u.total_tokens for u in known),
        cached_tokens=sum(u.cached_tokens for u in known),
        reasoning_tokens=sum(u.reasoning_tokens for u in known),
    )
