"""JSON schema from Python type hints (pure): what a tool's parameters look like.

str, int, float, bool; `Literal[...]` (an enum); `list[X]` (and `tuple[X, ...]`,
`set[X]`); `dict[str, X]`; `Optional[X]` / `X | None`; unions; dataclasses and
TypedDicts (nested objects); pydantic models when pydantic is installed (their own
`model_json_schema()`, whose `$defs` are lifted to the top). `Any` is any JSON value.
Anything else is a `ParamError` that names the parameter.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..errors import ParamError

__all__ = ["SUPPORTED", "is_pydantic_model", "parameters_schema", "type_schema"]

SUPPORTED = ("str, int, float, bool, Literal[...], list[...], dict[str, ...], Optional[...], "
             "a dataclass, a TypedDict or a pydantic model")
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                            type(None): "null"}
_LISTS = (list, tuple, set, frozenset, typing.List, typing.Tuple, typing.Set)  # noqa: UP006


def is_pydantic_model(tp: Any) -> bool:
    return isinstance(tp, type) and callable(getattr(tp, "model_json_schema", None)) and (
        callable(getattr(tp, "model_validate", None)))


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def type_schema(tp: Any, where: str, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one annotation; `where` names it in an error; pydantic `$defs` are
    collected in `defs`."""
    if tp is Any or tp is inspect.Parameter.empty:
        return {}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return type_schema(get_args(tp)[0], where, defs)
    if origin is Literal:
        values = list(get_args(tp))
        kinds = {_SCALARS.get(type(v)) for v in values}
        out: dict[str, Any] = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            out = {"type": kinds.pop(), "enum": values}
        return out
    if origin is Union or origin is types.UnionType:
        return _union(get_args(tp), where, defs)
    if tp in _LISTS or origin in _LISTS:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if origin in (tuple, typing.Tuple) and len(set(args)) > 1:  # noqa: UP006
            raise _unsupported(tp, where, "a tuple of mixed types")
        return {"type": "array", **({"items": type_schema(args[0], where, defs)} if args
                                    else {})}
    if tp in (dict, typing.Dict) or origin in (dict, typing.Dict, Mapping):  # noqa: UP006
        kv = get_args(tp)
        if kv and kv[0] is not str:
            raise _unsupported(tp, where, "JSON object keys are strings")
        return {"type": "object", **({"additionalProperties": type_schema(kv[1], where, defs)}
                                     if kv else {})}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        fields = [f for f in dataclasses.fields(tp) if f.init]
        required = [f.name for f in fields if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        return _object(tp, [f.name for f in fields], required, where, defs)
    if _is_typeddict(tp):
        hints = get_type_hints(tp)
        return _object(tp, list(hints), sorted(tp.__required_keys__), where, defs)
    if is_pydantic_model(tp):
        schema = dict(tp.model_json_schema())
        defs.update(schema.pop("$defs", {}))
        return schema
    raise _unsupported(tp, where)


def _union(args: tuple[Any, ...], where: str, defs: dict[str, Any]) -> dict[str, Any]:
    options = [type_schema(a, where, defs) for a in args]
    simple = [o for o in options if set(o) == {"type"} and isinstance(o["type"], str)]
    if len(simple) == len(options):
        return {"type": [o["type"] for o in options]}
    nullable = {"type": "null"} in options
    rest = [o for o in options if o != {"type": "null"}]
    if nullable and len(rest) == 1 and isinstance(rest[0].get("type"), str) and (
            "$ref" not in rest[0]):
        one = dict(rest[0])
        one["type"] = [one["type"], "null"]
        if "enum" in one:
            one["enum"] = [*one["enum"], None]
        return one
    return {"anyOf": options}


def _object(tp: type, names: list[str], required: list[str], where: str,
            defs: dict[str, Any]) -> dict[str, Any]:
    try:
        hints = get_type_hints(tp)
    except Exception as exc:  # a forward reference that cannot be resolved
        raise ParamError(f"{where}: the type hints of {tp.__name__} cannot be read ({exc})"
                         ) from None
    props = {n: type_schema(hints.get(n, Any), f"{where}.{n}", defs) for n in names}
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _unsupported(tp: Any, where: str, why: str = "") -> ParamError:
    name = getattr(tp, "__name__", None) or repr(tp)
    because = f" ({why})" if why else ""
    return ParamError(f"{where}: talkline cannot describe the type {name}{because} as JSON. "
                      f"Use {SUPPORTED}.")


def parameters_schema(fn: Callable[..., Any], descriptions: Mapping[str, str]
                      ) -> dict[str, Any]:
    """The `parameters` object of a function: one property per parameter (unannotated
    ones are strings), those without a default required. `*args`/`**kwargs` are refused."""
    label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "the function")
    try:
        signature = inspect.signature(fn)
        hints = get_type_hints(fn, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ParamError(f"{label}: its type hints cannot be read ({exc}); define the types "
                         "it names at the top level of its module") from None
    defs: dict[str, Any] = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, param in signature.parameters.items():
        where = f"parameter {name!r} of {label}()"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ParamError(f"{where}: *args and **kwargs cannot be tool parameters; name "
                             "each parameter.")
        if param.kind is param.POSITIONAL_ONLY:
            raise ParamError(f"{where}: positional-only parameters cannot be tool "
                             "parameters (the model passes arguments by name); drop the /.")
        annotation = hints.get(name, str)
        schema = type_schema(annotation, where, defs)
        if name in descriptions and descriptions[name]:
            schema = {**schema, "description": descriptions[name]}
        if param.default is not param.empty:
            default = param.default
            if default is None or isinstance(default, (str, int, float, bool)):
                schema = {**schema, "default": default}
        else:
            required.append(name)
        props[name] = schema
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if defs:
        out["$defs"] = defs
    return out
