"""One call's plan: the plain plan of `_plan.py`, inside the tool loop when `tools=` are
given (`_tools.py`), inside the schema check when a schema is (`_structured.py`; the check
is of the answer the tool loop ends with). No I/O."""

from __future__ import annotations

from collections.abc import Callable

from ..schema import Structured
from ..types import ChatParams, Message
from ._core import Core
from ._plan import Plan, plan
from ._structured import structured_plan
from ._tools import ToolOptions, tool_plan

__all__ = ["call_plan"]


def call_plan(core: Core, messages: list[Message], params: ChatParams, *,
              spec: Structured | None, tools: ToolOptions | None, stream: bool, resume: bool,
              note: Callable[[str], None] | None = None) -> Plan:
    """The plan of one `complete()`/`stream()` call."""
    def inner(core: Core, messages: list[Message], params: ChatParams, *, stream: bool,
              resume: bool) -> Plan:
        if tools is None:
            return plan(core, messages, params, stream=stream, resume=resume)
        return tool_plan(core, messages, params, tools, stream=stream, resume=resume)

    if spec is None:
        return inner(core, messages, params, stream=stream, resume=resume)
    return structured_plan(core, messages, params, spec, stream=stream, resume=resume,
                           note=note, inner=inner)
