"""A JSON schema made strict-valid for OpenAI's structured outputs (`strict: true`), or
the precise reason it cannot be.

Strict mode wants: an object at the root; on every object `additionalProperties: false`
and every property in `required` (an optional property becomes required and may be
`null`); no keyword outside its subset (`allOf`, `not`, `if`/`then`/`else`,
`patternProperties`, `propertyNames`, `minProperties`, `contains`, `uniqueItems`...); at
most 10 levels of nesting, 5000 properties and 1000 enum values. Local `$ref`s
(`#/$defs/Name`) are resolved in place; a recursive one cannot be, so such a schema is
sent non-strict. No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SchemaError

__all__ = ["MAX_DEPTH", "Strictness", "bounded_strings", "make_strict", "resolve_refs"]

MAX_DEPTH = 10
MAX_PROPERTIES = 5000
MAX_ENUM_VALUES = 1000
UNSUPPORTED = ("not", "if", "then", "else", "oneOf", "dependentRequired", "dependentSchemas",
               "patternProperties", "unevaluatedProperties", "propertyNames", "minProperties",
               "maxProperties", "unevaluatedItems", "contains", "minContains", "maxContains",
               "uniqueItems", "prefixItems")
_DROPPED = ("$schema", "$id", "$defs", "definitions", "default")


@dataclass(frozen=True)
class Strictness:
    """What to send: `schema`, with `strict` true when it is strict-valid; else `reason`
    says why not (and `schema` is the one given, unchanged)."""

    schema: dict[str, Any]
    strict: bool
    reason: str | None = None


class _NotStrict(Exception):
    pass


def make_strict(schema: Mapping[str, Any]) -> Strictness:
    """`schema` made strict-valid, or as it is with the reason it cannot be."""
    original = copy.deepcopy(dict(schema))
    try:
        resolved = resolve_refs(original)
        root_type = resolved.get("type")
        if root_type != "object" or "anyOf" in resolved:
            what = f"of type {root_type!r}" if root_type else "not a single object type"
            raise _NotStrict(f"the root is {what}; strict mode needs an object at the root "
                             "(--schema-multi wraps a list of objects in one)")
        counts = {"properties": 0, "enum": 0}
        converted = _strict(resolved, "$", 1, counts)
    except _NotStrict as exc:
        return Strictness(original, False, str(exc))
    return Strictness(converted, True)


def resolve_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every local `$ref` replaced by what it points to. A recursive `$ref`
    or one outside the schema raises `_NotStrict`; one that points nowhere, SchemaError."""

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#"):
                raise _NotStrict(f"the $ref {ref!r} is not inside the schema; only local "
                                 "refs such as '#/$defs/Name' can be resolved")
            if ref in stack:
                raise _NotStrict(f"the $ref {ref!r} refers to itself (a recursive schema), "
                                 "which cannot be written out in full")
            target = walk(_pointer(schema, ref), (*stack, ref))
            siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings} if isinstance(target, dict) else target
        return {k: walk(v, stack) for k, v in node.items() if k not in ("$defs", "definitions")
                or node is not schema}

    out = walk(schema, ())
    assert isinstance(out, dict)
    for key in ("$defs", "definitions"):
        out.pop(key, None)
    return out


def _pointer(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"schema: the $ref {ref!r} points to nothing in the schema",
                              hint="Define it under $defs, or fix the name.")
    return node


def _strict(node: Any, path: str, depth: int, counts: dict[str, int]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _NotStrict(f"{path} is the schema {node!r}, not an object schema; strict mode "
                         "needs a type for every value")
    if depth > MAX_DEPTH:
        raise _NotStrict(f"{path} is nested {depth} levels deep; strict mode allows "
                         f"{MAX_DEPTH}")
    node = dict(node)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        node = {**all_of[0], **{k: v for k, v in node.items() if k != "allOf"}}
    for keyword in ("allOf", *UNSUPPORTED):
        if keyword in node:
            raise _NotStrict(f"{path} uses {keyword!r}, which strict mode does not support")
    for key in _DROPPED:
        node.pop(key, None)
    enum = node.get("enum")
    if isinstance(enum, list):
        counts["enum"] += len(enum)
        if counts["enum"] > MAX_ENUM_VALUES:
            raise _NotStrict(f"the schema has more than {MAX_ENUM_VALUES} enum values, the "
                             "limit of strict mode")
    if isinstance(node.get("anyOf"), list):
        node["anyOf"] = [_strict(b, path, depth, counts) for b in node["anyOf"]]
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds or (kind is None and "properties" in node):
        _strict_object(node, path, depth, counts)
    if "array" in kinds:
        items = node.get("items")
        if items is None:
            raise _NotStrict(f"{path} is a list with no 'items' schema; strict mode needs the "
                             "type of its items")
        node["items"] = _strict(items, f"{path}[*]", depth + 1, counts)
    result: dict[str, Any] = node
    return result


def _strict_object(node: dict[str, Any], path: str, depth: int,
                   counts: dict[str, int]) -> None:
    extra = node.get("additionalProperties")
    if extra not in (None, False):
        what = "any extra key" if extra is True else "extra keys of a schema"
        raise _NotStrict(f"{path} allows {what} (additionalProperties); strict mode needs "
                         "every key named")
    properties = node.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise _NotStrict(f"{path} is an object with no properties (a free-form map); "
                         "strict mode needs every key named")
    counts["properties"] += len(properties)
    if counts["properties"] > MAX_PROPERTIES:
        raise _NotStrict(f"the schema has more than {MAX_PROPERTIES} properties, the limit of "
                         "strict mode")
    required = set(node.get("required") or ())
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        converted = _strict(sub, f"{path}.{name}", depth + 1, counts)
        out[name] = converted if name in required else _nullable(converted)
    node["properties"] = out
    node["required"] = list(out)
    node["additionalProperties"] = False


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """An optional property, required in strict mode: it may be null instead."""
    kind = node.get("type")
    if kind is not None:
        kinds = list(kind) if isinstance(kind, list) else [kind]
        if "null" not in kinds:
            kinds.append("null")
        node = {**node, "type": kinds}
        enum = node.get("enum")
        if isinstance(enum, list) and None not in enum:
            node["enum"] = [*enum, None]
        return node
    branches = node.get("anyOf")
    if isinstance(branches, list):
        if not any(b.get("type") == "null" for b in branches if isinstance(b, dict)):
            node = {**node, "anyOf": [*branches, {"type": "null"}]}
        return node
    return {"anyOf": [node, {"type": "null"}]}


def bounded_strings(schema: Any, most: int) -> Any:
    """`schema` with a `maxLength` of `most` on every string that has none: for a grammar
    (the embedded model), so a small model at a high temperature cannot wander inside one
    string until the token limit. A reply within the bound still matches `schema`."""
    if isinstance(schema, list):
        return [bounded_strings(item, most) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("enum", "const", "required", "default") else bounded_strings(v, most))
           for k, v in schema.items()}
    kind = out.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and "maxLength" not in out and "enum" not in out and (
            "pattern" not in out and "format" not in out):
        out["maxLength"] = most
    return out
