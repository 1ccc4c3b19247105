"""What a schema is given as, made into the one value the client sends and checks:
`Structured`. A pydantic model class (`model_json_schema()`; pydantic is never imported
here, the class brings it), a dict, or a string: inline JSON, a path to a `.json` file,
else the short syntax (`talkline.schema.short`). `--schema-multi` wraps the object as
`{"items": [OBJECT]}`, the way llm does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SchemaError
from .check import Problem, check_reply, json_path
from .short import parse_short
from .strict import make_strict

__all__ = ["SchemaLike", "Structured", "load_schema", "structured"]

SchemaLike = Any  # a pydantic model class, a Mapping (a JSON schema), or a str
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Structured:
    """A schema ready to send: `response_format()` is the request field, `check(text)` the
    reply's parsed value or its problem. `strict` false: `reason` says why it is not.
    `max_output` caps the larger limit a reply cut by the token limit is retried with."""

    name: str
    schema: Mapping[str, Any]
    strict: bool = True
    reason: str | None = None
    model: Any = None
    max_output: int | None = None

    def response_format(self) -> dict[str, Any]:
        return {"type": "json_schema",
                "json_schema": {"name": self.name, "schema": dict(self.schema),
                                "strict": self.strict}}

    def check(self, text: str) -> tuple[Any, Problem | None]:
        """The reply's value (a model instance when a model class was given) and None, or
        (None, what is wrong with it)."""
        value, problem = check_reply(text, self.schema)
        if problem is not None or self.model is None:
            return value, problem
        return _model_value(self.model, value)

    def with_max_output(self, cap: int | None) -> Structured:
        from dataclasses import replace

        return replace(self, max_output=cap)

    @classmethod
    def from_response_format(cls, rf: Mapping[str, Any] | None) -> Structured | None:
        """The schema of a `json_schema` response_format already in the request (stored
        with a conversation, or given with -p): checked as it is sent."""
        if not rf or rf.get("type") != "json_schema":
            return None
        spec = rf.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            return None
        return cls(str(spec.get("name") or "reply"), dict(spec["schema"]),
                   bool(spec.get("strict")))


def structured(schema: SchemaLike, *, multi: bool = False,
               name: str | None = None) -> Structured:
    """`schema` (model class, dict, JSON text, .json path or short syntax) made strict
    where it can be."""
    if isinstance(schema, Structured):
        return schema
    model = None
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        model = schema
        name = name or schema.__name__
        raw: Mapping[str, Any] = schema.model_json_schema()
    elif isinstance(schema, Mapping):
        raw = schema
    elif isinstance(schema, str):
        raw = load_schema(schema)
    else:
        raise SchemaError(f"schema must be a pydantic model class, a dict or a string, got "
                          f"{type(schema).__name__}",
                          hint="Give a JSON schema, a .json file or fields such as "
                               "'name, age int'.")
    _check_is_schema(raw)
    if multi:
        model = None
        raw = {"type": "object", "properties": {"items": {"type": "array", "items": dict(raw)}},
               "required": ["items"]}
    strictness = make_strict(raw)
    title = raw.get("title") if isinstance(raw.get("title"), str) else None
    label = _NAME.sub("_", name or title or ("items" if multi else "reply"))[:64] or "reply"
    return Structured(label, strictness.schema, strictness.strict, strictness.reason, model)


def load_schema(text: str) -> dict[str, Any]:
    """A string given as a schema: inline JSON, a path to a .json file, else short syntax."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return _json_object(stripped, "the inline JSON schema")
    path = Path(stripped).expanduser()
    if stripped.lower().endswith(".json"):
        try:
            data = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SchemaError(f"schema: cannot read {stripped}: {reason}",
                              hint="Give the path of a JSON schema file, inline JSON, or "
                                   "fields such as 'name, age int'.") from None
        return _json_object(data, stripped)
    return parse_short(text)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"schema: {what} is not valid JSON: {exc}",
                          hint="Fix the JSON, or write fields as 'name, age int'.") from None
    if not isinstance(value, dict):
        raise SchemaError(f"schema: {what} is a JSON {type(value).__name__}, not a schema "
                          "object", hint='A JSON schema is an object: {"type": "object", ...}.')
    return value


def _check_is_schema(schema: Mapping[str, Any]) -> None:
    import jsonschema  # lazily: only a command with a schema needs it

    cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = json_path(exc.absolute_path)
        raise SchemaError(f"schema: not a valid JSON schema at {where}: {exc.message}",
                          hint="Fix the schema (see json-schema.org), or write fields "
                               "as 'name, age int'.") from None


def _model_value(model: Any, value: Any) -> tuple[Any, Problem | None]:
    """`value` as an instance of the pydantic `model`; a null given for an optional field
    (strict mode makes them required and nullable) falls back to the field's default."""
    try:
        return model.model_validate(value), None
    except ValueError as first:
        try:
            return model.model_validate(_without_nulls(value)), None
        except ValueError:
            pass
        errors = getattr(first, "errors", None)
        detail = errors()[0] if callable(errors) and errors() else None
        if detail:
            return None, Problem(json_path(detail.get("loc", ())), str(detail.get("msg")))
        return None, Problem("$", str(first))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
