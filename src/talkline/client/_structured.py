"""A call under a schema, around the plan of `_plan.py`: the reply is checked against the
schema; an invalid one is asked for once more with the problem named (an extra user
message), a reply cut by the token limit once more with twice the limit (capped by
`Structured.max_output`); then it is `SchemaValidationError`. After a retry the answer's
`loop_usage` (its `total_usage`) holds both requests' tokens: both were paid for. No I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import SchemaValidationError
from ..schema import Problem, SchemaLike, Structured, structured
from ..types import ChatDelta, ChatParams, ChatResponse, Message
from ._core import Core
from ._plan import Emit, Plan, plan
from ._tools import sum_usage

__all__ = ["PlanFunction", "schema_for", "structured_plan"]


class PlanFunction(Protocol):
    def __call__(self, core: Core, messages: list[Message], params: ChatParams, *,
                 stream: bool, resume: bool) -> Plan: ...

_CUT = "the reply was cut by the token limit (finish_reason: length), so it is not whole JSON"


def schema_for(schema: SchemaLike | None, params: ChatParams,
               warn: Callable[[str], None] | None) -> Structured | None:
    """The schema of a call: `schema=` when given (a warning when it cannot be strict),
    else a `json_schema` response_format already in the request, else None."""
    if schema is None:
        return Structured.from_response_format(params.response_format)
    spec = structured(schema)
    if not spec.strict:
        text = f"the schema cannot be strict: {spec.reason}; it is sent non-strict"
        if warn is not None:
            warn(text)
        else:
            warnings.warn(text, stacklevel=4)
    return spec


def structured_plan(core: Core, messages: list[Message], params: ChatParams,
                    spec: Structured, *, stream: bool, resume: bool,
                    note: Callable[[str], None] | None = None,
                    inner: PlanFunction = plan) -> Plan:
    """The call (`inner`: the plain plan, or the tool loop), its reply checked; retried
    once when invalid or cut (`note` is told)."""
    params = params.merge(response_format=spec.response_format())
    response = yield from inner(core, messages, params, stream=stream, resume=resume)
    value, problem = verdict(spec, response)
    if problem is None:
        return response.replace(parsed=value)
    bigger: int | None = None
    if stream:
        for choice in response.choices:
            yield Emit(ChatDelta(index=choice.index, restart=True))
    if problem.message == _CUT:
        limit, bigger = _bigger_limit(params, response, spec.max_output)
        if bigger is None:
            raise _cut(response, f"at {limit} tokens, the most this model writes,")
        field = "max_completion_tokens" if params.max_completion_tokens else "max_tokens"
        if note is not None:
            note(f"schema: the reply was cut by the token limit at {limit} tokens; asking "
                 f"once more with {bigger}")
        again = yield from inner(core, messages, params.merge(**{field: bigger}),
                                stream=stream, resume=resume)
    else:
        if note is not None:
            note(f"schema: the reply does not match ({problem}); asking once more")
        fix = Message("user", f"Your reply does not match the JSON schema: {problem}. "
                              "Answer again with only the corrected JSON.")
        again = yield from inner(core, [*messages, _as_sent(response), fix], params,
                                stream=stream, resume=resume)
    # Both requests were paid for: the answer (or the error's reply, stored) carries both.
    again = again.replace(loop_usage=sum_usage([response.total_usage, again.total_usage]))
    value, problem = verdict(spec, again)
    if problem is not None and problem.message == _CUT:
        raise _cut(again, f"again at {bigger} tokens" if bigger else "again")
    if problem is not None:
        raise SchemaValidationError(
            f"the reply does not match the schema, even after a retry: {problem}",
            path=problem.path, response=again,
            hint="A simpler schema or a more capable model may help; the reply received is "
                 "kept (`talkline history show`, or the error's .response).")
    return again.replace(parsed=value, attempts=response.attempts + again.attempts)


def verdict(spec: Structured, response: ChatResponse) -> tuple[Any, Problem | None]:
    """The first choice's value, or the first problem of any choice. A reply of tool calls
    is not checked (its answer comes after the tools ran)."""
    value: Any = None
    for choice in response.choices:
        if choice.message.tool_calls or choice.finish_reason == "tool_calls":
            continue
        if choice.message.refusal:
            raise SchemaValidationError(f"the model refused: {choice.message.refusal}",
                                        response=response,
                                        hint="Rephrase the request; a refusal is not retried.")
        if choice.finish_reason == "length":
            return None, Problem("$", _CUT)
        parsed, problem = spec.check(choice.message.text)
        if problem is not None:
            return None, problem
        if choice.index == response.choices[0].index:
            value = parsed
    return value, None


def _bigger_limit(params: ChatParams, response: ChatResponse, cap: int | None
                  ) -> tuple[int | None, int | None]:
    """The limit the reply was cut at, and twice it capped by `cap` (None: no room)."""
    limit = params.max_completion_tokens or params.max_tokens or (
        response.usage.completion_tokens if response.usage else None) or 512
    bigger = limit * 2 if cap is None else min(limit * 2, cap)
    return limit, (bigger if bigger > limit else None)


def _as_sent(response: ChatResponse) -> Message:
    return Message("assistant", response.content)


def _cut(response: ChatResponse, where: str) -> SchemaValidationError:
    return SchemaValidationError(
        f"the reply was cut by the token limit {where} (finish_reason: length), so it is "
        "not whole JSON", path="$", response=response,
        hint="Raise --max-tokens (max_tokens=), or ask for less.")
