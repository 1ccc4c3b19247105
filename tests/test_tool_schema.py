"""A tool from a Python function: its JSON schema from the type hints (a table of every
annotation kind), its descriptions from the docstring, the errors for what cannot be
described; tool dicts checked; results as text, capped."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal, Optional, TypedDict

import pytest

from talkline import ParamError, Tool
from talkline.tools import MAX_RESULT_BYTES, as_tools, result_text


@dataclasses.dataclass
class Address:
    street: str
    city: str = "Paris"


@dataclasses.dataclass
class Person:
    name: str
    address: Address


class Point(TypedDict):
    x: float
    y: float


def _schema_of(annotation: Any) -> dict[str, Any]:
    def fn(value):  # type: ignore[no-untyped-def]
        return value

    fn.__annotations__ = {"value": annotation}
    return Tool.from_function(fn).parameters["properties"]["value"]


ADDRESS = {"type": "object", "properties": {"street": {"type": "string"},
                                             "city": {"type": "string"}},
           "required": ["street"], "additionalProperties": False}

CASES = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (Literal["c", "f"], {"type": "string", "enum": ["c", "f"]}),
    (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (list[list[str]], {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}),
    (Optional[int], {"type": ["integer", "null"]}),  # noqa: UP045
    (str | None, {"type": ["string", "null"]}),
    (Literal["a", "b"] | None, {"type": ["string", "null"], "enum": ["a", "b", None]}),
    (int | str, {"type": ["integer", "string"]}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (Any, {}),
    (Address, ADDRESS),
    (Person, {"type": "object", "properties": {"name": {"type": "string"}, "address": ADDRESS},
              "required": ["name", "address"], "additionalProperties": False}),
    (Point, {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
             "required": ["x", "y"], "additionalProperties": False}),
    (list[Address], {"type": "array", "items": ADDRESS}),
]


@pytest.mark.parametrize(("annotation", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_schema_from_each_annotation_kind(annotation, expected):
    assert _schema_of(annotation) == expected


def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int | None = None) -> str:
    """The weather in a city.

    Looks it up now.

    Args:
        city: The city, e.g. Paris.
        unit: Celsius or Fahrenheit,
            as one letter.
    """
    return city


def sphinx_style(query: str, limit: int = 5) -> list[str]:
    """Search the notes.

    :param query: What to look for.
    :param int limit: How many results.
    """
    return []


def test_function_becomes_a_tool_with_descriptions_defaults_and_required():
    tool = Tool.from_function(get_weather)
    assert tool.to_dict() == {"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city.\n\nLooks it up now.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris."},
            "unit": {"type": "string", "enum": ["c", "f"],
                     "description": "Celsius or Fahrenheit, as one letter.", "default": "c"},
            "days": {"type": ["integer", "null"], "default": None},
        }, "required": ["city"]},
    }}
    assert tool.function is get_weather and not tool.is_async
    assert tool.summary == "The weather in a city."


def test_sphinx_docstrings_describe_parameters():
    props = Tool.from_function(sphinx_style).parameters["properties"]
    assert props["query"]["description"] == "What to look for."
    assert props["limit"]["description"] == "How many results."
    assert Tool.from_function(sphinx_style).description == "Search the notes."


def test_unannotated_parameters_are_strings_and_async_is_seen():
    async def lookup(name):  # type: ignore[no-untyped-def]
        return name

    tool = Tool.from_function(lookup)
    assert tool.parameters["properties"] == {"name": {"type": "string"}}
    assert tool.is_async


def test_unsupported_annotation_names_the_parameter_and_the_fix():
    def send(payload: bytes) -> None:
        return None

    with pytest.raises(ParamError) as info:
        Tool.from_function(send)
    message = str(info.value)
    assert "parameter 'payload' of" in message and "send()" in message
    assert "bytes" in message and "Use str, int, float, bool, Literal" in message

    def many(*names: str) -> None:
        return None

    with pytest.raises(ParamError, match=r"'names'.*\*args and \*\*kwargs.*name each parameter"):
        Tool.from_function(many)


try:
    import pydantic
except ImportError:  # pydantic is optional: its test is skipped without it
    pydantic = None  # type: ignore[assignment]
else:
    class City(pydantic.BaseModel):
        name: str
        population: int = 0

    class Trip(pydantic.BaseModel):
        to: City

    def plan(trip: Trip) -> str:
        return trip.to.name


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_pydantic_models_use_their_own_schema():
    params = Tool.from_function(plan).parameters
    assert params["properties"]["trip"]["properties"]["to"] == {"$ref": "#/$defs/City"}
    assert params["$defs"]["City"]["properties"]["name"] == {"title": "Name", "type": "string"}
    assert params["required"] == ["trip"]


def test_tool_dicts_are_checked():
    good = {"type": "function", "function": {"name": "lookup", "description": "Find.",
                                             "parameters": {"type": "object", "properties": {}}}}
    tool = Tool.from_dict(good)
    assert tool.to_dict() == good and tool.function is None
    with pytest.raises(ParamError, match=r'must look like \{"type": "function"'):
        Tool.from_dict({"name": "lookup"})
    with pytest.raises(ParamError, match="1 to 64 letters, digits"):
        Tool.from_dict({"type": "function", "function": {"name": "no spaces"}})
    with pytest.raises(ParamError, match="parameters must be a JSON schema object"):
        Tool.from_dict({"type": "function", "function": {"name": "x",
                                                         "parameters": {"type": "array"}}})
    with pytest.raises(ParamError, match="two tools are named get_weather"):
        as_tools([get_weather, get_weather])
    with pytest.raises(ParamError, match=r"tools must be a list, e\.g\. tools=\[get_weather\]"):
        as_tools(get_weather)  # type: ignore[arg-type]


def test_results_are_text_and_capped():
    assert result_text("as is") == ("as is", False)
    assert result_text({"a": [1, 2]}) == ('{"a": [1, 2]}', False)
    assert result_text(Address("Rue", "Lyon")) == ('{"street": "Rue", "city": "Lyon"}', False)
    assert result_text(None) == ("null", False)
    text, cut = result_text("é" * MAX_RESULT_BYTES)
    assert cut and len(text.split("\n[talkline")[0].encode()) <= MAX_RESULT_BYTES
    assert text.endswith(f"[talkline: the result was cut to {MAX_RESULT_BYTES:,} of "
                         f"{2 * MAX_RESULT_BYTES:,} bytes]")
    json.loads(result_text(list(range(10)))[0])


@pytest.mark.parametrize("name", ["get weather", "x" * 65, "", "get_weather\n"])
def test_a_tool_name_the_api_refuses_is_refused_here(name: str) -> None:
    from talkline.errors import ParamError
    from talkline.tools import Tool

    with pytest.raises(ParamError, match="use 1 to 64 letters, digits, _ or -"):
        Tool(name=name)
