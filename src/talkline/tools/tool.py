"""`Tool`: one function the model may call, built from a Python function or a tool dict."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ParamError
from ._docstrings import parse_docstring
from .schema import parameters_schema

__all__ = ["Tool", "as_tools"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Tool:
    """A tool: what is sent (`name`, `description`, `parameters`, a JSON schema) and what
    runs (`function`, None for a tool the caller answers itself; `is_async` when it is a
    coroutine function)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})
    function: Callable[..., Any] | None = None
    is_async: bool = False
    strict: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ParamError(
                f"tool name {self.name!r} is not allowed: use 1 to 64 letters, digits, _ "
                "or -, e.g. get_weather")
        if not isinstance(self.parameters, Mapping) or self.parameters.get("type") != "object":
            raise ParamError(f"tool {self.name!r}: parameters must be a JSON schema object "
                             'such as {"type": "object", "properties": {...}}')

    @classmethod
    def from_function(cls, fn: Callable[..., Any], *, name: str | None = None,
                      description: str | None = None) -> Tool:
        """The schema from the type hints, the description from the docstring (its text
        before the `Args:`/`:param` lines, which describe the parameters)."""
        if not callable(fn):
            raise ParamError(f"a tool must be a function or a tool dict, got {fn!r}")
        summary, params = parse_docstring(inspect.getdoc(fn))
        return cls(
            name=name or str(getattr(fn, "__name__", "")),
            description=description if description is not None else summary,
            parameters=parameters_schema(fn, params),
            function=fn,
            is_async=inspect.iscoroutinefunction(fn),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], function: Callable[..., Any] | None = None
                  ) -> Tool:
        """`{"type": "function", "function": {"name", "description", "parameters"}}`,
        checked; `function` runs it (without one, the caller answers its calls)."""
        if not isinstance(data, Mapping) or data.get("type") != "function" or not (
                isinstance(data.get("function"), Mapping)):
            raise ParamError(
                'a tool dict must look like {"type": "function", "function": {"name": ..., '
                f'"parameters": {{...}}}}}}, got {data!r}')
        fn = data["function"]
        description = fn.get("description", "")
        if not isinstance(description, str):
            raise ParamError(f"tool {fn.get('name')!r}: description must be a string")
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise ParamError(f"tool {fn.get('name')!r}: strict must be true or false")
        return cls(
            name=fn.get("name"),  # type: ignore[arg-type]  # checked by __post_init__
            description=description,
            parameters=fn.get("parameters") or {"type": "object", "properties": {}},
            function=function,
            is_async=function is not None and inspect.iscoroutinefunction(function),
            strict=strict,
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry of the request's `tools`."""
        fn: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            fn["description"] = self.description
        if self.strict is not None:
            fn["strict"] = self.strict
        return {"type": "function", "function": fn}

    @property
    def summary(self) -> str:
        """The description's first line (for `/tools`)."""
        return self.description.strip().splitlines()[0] if self.description.strip() else ""


def as_tools(items: Iterable[Any]) -> tuple[Tool, ...]:
    """Functions, tool dicts and `Tool`s as `Tool`s; two with one name are refused."""
    if isinstance(items, (str, bytes, Mapping)) or callable(items):
        raise ParamError("tools must be a list, e.g. tools=[get_weather]")
    out: list[Tool] = []
    for item in items:
        if isinstance(item, Tool):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(Tool.from_dict(item))
        else:
            out.append(Tool.from_function(item))
    names = [t.name for t in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParamError(f"two tools are named {', '.join(twice)}: give each tool its own "
                         "name (Tool.from_function(fn, name=...))")
    return tuple(out)
