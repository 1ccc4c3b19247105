"""Running the calls of one reply: arguments parsed and checked, the approval asked, the
function run and timed, the result as text for the model (pure but for the tool itself).

Nothing here raises for what the model sent: bad JSON, wrong arguments, an unknown tool,
a refusal or a tool that raises become the text of the `tool` message, so the model can
put it right; `ToolResult.error` says what went wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

from ..types import Message, ToolCall
from .schema import is_pydantic_model
from .tool import Tool

__all__ = ["MAX_RESULT_BYTES", "Approve", "ToolResult", "ToolRunner", "result_text"]

MAX_RESULT_BYTES = 64 * 1024  # a result longer than this is cut (and says so)
REFUSED = "error: the user refused to run this call; do not call it again unless asked."

Approve = Callable[[ToolCall], "bool | Awaitable[bool]"]


@dataclass(frozen=True)
class ToolResult:
    """One call run (or not): the text sent back, how long it took, what went wrong."""

    call: ToolCall
    output: str
    seconds: float = 0.0
    error: str | None = None  # "ValueError: boom", or what was wrong with the arguments
    refused: bool = False
    truncated: bool = False

    @property
    def name(self) -> str:
        return self.call.name

    @property
    def arguments(self) -> str:
        return self.call.arguments

    def summary(self, width: int = 80) -> str:
        """The output on one line, cut to `width` characters."""
        line = " ".join(self.output.split())
        return line if len(line) <= width else line[: width - 1] + "…"

    def message(self) -> Message:
        """The `tool` message that answers the call."""
        return Message("tool", self.output, tool_call_id=self.call.id)


def result_text(value: Any, limit: int = MAX_RESULT_BYTES) -> tuple[str, bool]:
    """A tool's return value as text (a str as it is, anything else as JSON), at most
    `limit` bytes of UTF-8; True when it was cut."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(_jsonable(value), ensure_ascii=False, default=str)
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, False
    kept = data[:limit].decode("utf-8", "ignore")
    return (f"{kept}\n[talkline: the result was cut to {limit:,} of {len(data):,} bytes]",
            True)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and is_pydantic_model(type(value)):
        return dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return value


class ToolRunner:
    """The tools of one call of the client, with the approval and the event callback."""

    def __init__(self, tools: Sequence[Tool], *, approve: Approve | None = None,
                 on_tool: Callable[[ToolResult], None] | None = None) -> None:
        self.tools = {t.name: t for t in tools}
        self.approve = approve
        self.on_tool = on_tool

    def runs_all(self, calls: Sequence[ToolCall]) -> bool:
        """Whether talkline runs these calls: a call of a tool given without a function
        is the caller's to answer, so the loop hands the reply back as it is."""
        return all(c.name not in self.tools or self.tools[c.name].function is not None
                   for c in calls)

    def run(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Each call in order (an async tool runs in its own event loop)."""
        results = []
        for call in calls:
            ready = self._prepare(call)
            if isinstance(ready, tuple):
                tool, kwargs = ready
                if self.approve is not None and not _sync_bool(self.approve(call)):
                    ready = ToolResult(call, REFUSED, refused=True, error="refused")
                else:
                    started = time.monotonic()
                    try:
                        value = _run_sync(tool, kwargs)
                    except Exception as exc:
                        ready = _raised(call, exc, started)
                    else:
                        ready = _done(call, value, started)
            results.append(self._told(ready))
        return results

    async def arun(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Each call in order: async tools awaited, the others in a thread."""
        results = []
        for call in calls:
            ready = self._prepare(call)
            if isinstance(ready, tuple):
                tool, kwargs = ready
                verdict: Any = self.approve(call) if self.approve is not None else True
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if not verdict:
                    ready = ToolResult(call, REFUSED, refused=True, error="refused")
                else:
                    started = time.monotonic()
                    assert tool.function is not None
                    try:
                        if tool.is_async:
                            value = await tool.function(**kwargs)
                        else:
                            value = await asyncio.to_thread(tool.function, **kwargs)
                    except Exception as exc:
                        ready = _raised(call, exc, started)
                    else:
                        ready = _done(call, value, started)
            results.append(self._told(ready))
        return results

    def _told(self, result: ToolResult) -> ToolResult:
        if self.on_tool is not None:
            self.on_tool(result)
        return result

    def _prepare(self, call: ToolCall) -> ToolResult | tuple[Tool, dict[str, Any]]:
        """The tool and its keyword arguments, or the error result to send back."""
        tool = self.tools.get(call.name)
        if tool is None or tool.function is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return _bad(call, f"there is no tool named {call.name!r}; the tools are: {known}")
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError as exc:
            return _bad(call, f"the arguments are not valid JSON ({exc}); send a JSON object")
        if not isinstance(args, dict):
            return _bad(call, "the arguments must be a JSON object of parameter names, got "
                              f"{type(args).__name__}")
        problem = _schema_problem(tool.parameters, args)
        if problem:
            return _bad(call, f"invalid arguments: {problem}")
        try:
            inspect.signature(tool.function).bind(**args)
            kwargs = _converted(tool.function, args)
        except (TypeError, ValueError) as exc:
            return _bad(call, f"invalid arguments: {exc}")
        return tool, kwargs


def _bad(call: ToolCall, problem: str) -> ToolResult:
    return ToolResult(call, f"error: {problem}", error=problem)


def _raised(call: ToolCall, exc: Exception, started: float) -> ToolResult:
    text = f"{type(exc).__name__}: {exc}"
    return ToolResult(call, f"error: {text}", seconds=time.monotonic() - started, error=text)


def _done(call: ToolCall, value: Any, started: float) -> ToolResult:
    seconds = time.monotonic() - started
    try:
        text, cut = result_text(value)
    except (TypeError, ValueError) as exc:
        problem = f"the result could not be written as JSON ({exc})"
        return ToolResult(call, f"error: {problem}", seconds=seconds, error=problem)
    return ToolResult(call, text, seconds=seconds, truncated=cut)


def _sync_bool(value: Any) -> bool:
    if inspect.isawaitable(value):
        async def wait() -> Any:
            return await value
        value = asyncio.run(wait())
    return bool(value)


def _run_sync(tool: Tool, kwargs: Mapping[str, Any]) -> Any:
    assert tool.function is not None
    value = tool.function(**kwargs)
    if inspect.isawaitable(value):
        async def wait() -> Any:
            return await value
        value = asyncio.run(wait())
    return value


def _schema_problem(schema: Mapping[str, Any], args: dict[str, Any]) -> str | None:
    """What is wrong with `args` by the schema (jsonschema when installed; else the
    required names only, and the signature check after it catches the rest)."""
    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        missing = [n for n in schema.get("required") or () if n not in args]
        return f"missing {', '.join(map(repr, missing))}" if missing else None
    try:
        validator = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(validator(schema).iter_errors(args))
    except jsonschema.exceptions.SchemaError:
        return None  # the tool's own schema is wrong: the signature check still holds
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at {where})" if where else "")


def _converted(fn: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    """Arguments for parameters annotated as a dataclass or a pydantic model built into
    one (the model sends plain JSON objects); whole numbers for a float made floats."""
    try:
        hints = get_type_hints(fn)
    except Exception:
        return args
    return {name: _build(hints.get(name), value) for name, value in args.items()}


def _build(tp: Any, value: Any) -> Any:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # JSON has one kind of number: 2 is a float here
    if not isinstance(value, dict) or not isinstance(tp, type):
        return value
    if is_pydantic_model(tp):
        return tp.model_validate(value)  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        return tp(**{k: _build(hints.get(k), v) for k, v in value.items()})
    return value
