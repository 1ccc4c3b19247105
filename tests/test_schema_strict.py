"""Strict conversion (every property required, additionalProperties false, $refs
resolved, optional -> nullable) and the precise reasons a schema cannot be strict; the
reply check with its JSON path; how a string is read as a schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talkline.errors import SchemaError
from talkline.schema import check_reply, load_schema, make_strict, structured


def test_every_object_gets_required_and_no_additional_properties() -> None:
    schema = {"type": "object", "properties": {
        "name": {"type": "string"},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "object",
                                            "properties": {"t": {"type": "string"}}}},
    }, "required": ["name", "address", "tags"]}
    out = make_strict(schema)
    assert out.strict and out.reason is None
    s = out.schema
    assert s["additionalProperties"] is False and s["required"] == ["name", "address", "tags"]
    address = s["properties"]["address"]
    assert address["additionalProperties"] is False
    # `city` was optional: now required, and it may be null
    assert address["required"] == ["city"]
    assert address["properties"]["city"]["type"] == ["string", "null"]
    item = s["properties"]["tags"]["items"]
    assert item["additionalProperties"] is False and item["properties"]["t"]["type"] == [
        "string", "null"]


def test_optional_properties_become_nullable_in_each_shape() -> None:
    schema = {"type": "object", "properties": {
        "e": {"type": "string", "enum": ["a", "b"]},
        "u": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "r": {"description": "no type at all", "enum": [1, 2]},
        "n": {"type": ["integer", "null"]},
    }}
    p = make_strict(schema).schema["properties"]
    assert p["e"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert p["u"] == {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    assert p["r"] == {"anyOf": [{"description": "no type at all", "enum": [1, 2]},
                                {"type": "null"}]}
    assert p["n"] == {"type": ["integer", "null"]}


def test_local_refs_are_resolved_and_defs_dropped() -> None:
    schema = {"type": "object", "$defs": {"Addr": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}},
        "properties": {"home": {"$ref": "#/$defs/Addr"},
                       "work": {"$ref": "#/$defs/Addr", "description": "office"}},
        "required": ["home", "work"]}
    out = make_strict(schema)
    assert out.strict
    assert "$defs" not in out.schema
    assert out.schema["properties"]["home"] == {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}
    assert out.schema["properties"]["work"]["description"] == "office"


def test_a_pydantic_schema_with_nested_models_and_defaults() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Pet(pydantic.BaseModel):
        name: str

    class Person(pydantic.BaseModel):
        name: str
        nick: str | None = None
        pets: list[Pet]

    spec = structured(Person)
    assert spec.strict and spec.name == "Person"
    s = spec.schema
    assert s["required"] == ["name", "nick", "pets"]
    assert "default" not in s["properties"]["nick"]
    assert s["properties"]["pets"]["items"]["additionalProperties"] is False
    value, problem = spec.check('{"name": "Ana", "nick": null, "pets": [{"name": "Rex"}]}')
    assert problem is None and isinstance(value, Person) and value.pets[0].name == "Rex"


NOT_STRICT = [
    ({"type": "array", "items": {"type": "string"}},
     "the root is of type 'array'; strict mode needs an object at the root"),
    ({"anyOf": [{"type": "object"}, {"type": "string"}]},
     "the root is not a single object type"),
    ({"type": "object", "properties": {"a": {"type": "string"}},
      "patternProperties": {"^x": {"type": "string"}}},
     "$ uses 'patternProperties', which strict mode does not support"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"},
                                             "uniqueItems": True}}},
     "$.a uses 'uniqueItems', which strict mode does not support"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "string"}}, "additionalProperties": True}}},
     "$.a allows any extra key (additionalProperties); strict mode needs every key named"),
    ({"type": "object", "properties": {"m": {"type": "object"}}},
     "$.m is an object with no properties (a free-form map)"),
    ({"type": "object", "properties": {"l": {"type": "array"}}},
     "$.l is a list with no 'items' schema"),
    ({"type": "object", "properties": {"n": {"$ref": "#/$defs/Node"}},
      "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}},
     "the $ref '#/$defs/Node' refers to itself (a recursive schema)"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.invalid/a.json"}}},
     "is not inside the schema; only local refs"),
    ({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
     "$.a uses 'oneOf'"),
]


def _deep(levels: int) -> dict[str, object]:
    node: dict[str, object] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"x": node}}
    return node


NOT_STRICT.append((_deep(11), "nested 11 levels deep; strict mode allows 10"))


@pytest.mark.parametrize(("schema", "reason"), NOT_STRICT, ids=[r for _, r in NOT_STRICT])
def test_a_schema_that_cannot_be_strict_says_why_and_is_sent_as_given(schema, reason) -> None:
    out = make_strict(schema)
    assert not out.strict
    assert reason in (out.reason or "")
    assert out.schema == schema


def test_ten_levels_are_still_strict() -> None:
    assert make_strict(_deep(9)).strict


def test_a_ref_to_nothing_is_refused() -> None:
    with pytest.raises(SchemaError, match="points to nothing"):
        make_strict({"type": "object", "properties": {"a": {"$ref": "#/$defs/Gone"}}})


@pytest.mark.parametrize(("reply", "problem"), [
    ('{"items": [{"price": 1}, {"price": 2}, {"price": "x"}]}',
     "$.items[2].price: 'x' is not of type 'number'"),
    ('{"items": []', "$: the reply is not valid JSON"),
    ("", "$: the reply is empty, not JSON"),
    ('{"items": [{"price": 1, "extra": 1}]}', "$.items[0]: Additional properties"),
    ("{}", "$: 'items' is a required property"),
])
def test_a_bad_reply_names_its_json_path(reply: str, problem: str) -> None:
    spec = structured("items [{price float}]")
    value, found = check_reply(reply, spec.schema)
    assert value is None and found is not None
    assert str(found).startswith(problem)


def test_a_good_reply_is_parsed_even_in_a_json_fence() -> None:
    spec = structured("city, country")
    value, problem = spec.check('```json\n{"city": "Paris", "country": "France"}\n```')
    assert problem is None and value == {"city": "Paris", "country": "France"}


def test_a_string_is_inline_json_a_json_file_or_short_syntax(tmp_path: Path,
                                                              monkeypatch) -> None:
    inline = '{"type": "object", "properties": {"a": {"type": "integer"}}}'
    assert load_schema(inline)["properties"]["a"] == {"type": "integer"}
    file = tmp_path / "s.json"
    file.write_text(json.dumps({"type": "object", "properties": {"f": {"type": "string"}}}))
    assert load_schema(str(file))["properties"] == {"f": {"type": "string"}}
    assert load_schema("f int")["properties"] == {"f": {"type": "integer"}}
    with pytest.raises(SchemaError, match="cannot read .*missing.json"):
        load_schema(str(tmp_path / "missing.json"))
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema('{"type": ')
    with pytest.raises(SchemaError, match="not a valid JSON schema at \\$.type"):
        structured({"type": "objekt"})


def test_multi_wraps_the_object_in_items() -> None:
    spec = structured("title, price float", multi=True)
    assert spec.strict and spec.name == "items"
    items = spec.schema["properties"]["items"]
    assert items["type"] == "array" and items["items"]["required"] == ["title", "price"]
    assert spec.schema["required"] == ["items"]


def test_the_local_grammar_bounds_strings_but_keeps_the_rest() -> None:
    from talkline.backends.base import ChatRequest
    from talkline.backends.local.requests import GRAMMAR_STRING_MAX, choice_requests
    from talkline.types import ChatParams, Message

    spec = structured("city, code: two letters, n int, tags [str]")
    params = ChatParams(response_format=spec.response_format())
    (sent,) = choice_requests(ChatRequest(messages=(Message("user", "hi"),), params=params),
                              "m", None)
    fmt = sent.params.response_format
    assert fmt is not None
    props = fmt["json_schema"]["schema"]["properties"]
    assert props["city"] == {"type": "string", "maxLength": GRAMMAR_STRING_MAX}
    assert props["code"]["description"] == "two letters"
    assert props["n"] == {"type": "integer"}
    assert props["tags"]["items"]["maxLength"] == GRAMMAR_STRING_MAX
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "reply"
