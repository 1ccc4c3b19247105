"""The short schema syntax: a table of specs and the JSON schema each becomes, nesting
included, and the errors (with the column) for specs that do not parse."""

from __future__ import annotations

import pytest

from talkline.errors import SchemaError
from talkline.schema import parse_short


def obj(**props: object) -> dict[str, object]:
    return {"type": "object", "properties": props, "required": list(props)}


S, INT, F, B = ({"type": t} for t in ("string", "integer", "number", "boolean"))

CASES = [
    ("name", obj(name=S)),
    ("name, age int, bio: a short biography",
     obj(name=S, age=INT, bio={"type": "string", "description": "a short biography"})),
    ("a str, b string, c integer, d float, e number, f bool, g boolean",
     obj(a=S, b=S, c=INT, d=F, e=F, f=B, g=B)),
    ("address {street, city}", obj(address=obj(street=S, city=S))),
    ("tags [str]", obj(tags={"type": "array", "items": S})),
    ("items [{title, price float}]",
     obj(items={"type": "array", "items": obj(title=S, price=F)})),
    ("grid [[int]]", obj(grid={"type": "array", "items": {"type": "array", "items": INT}})),
    ("person {name, address {street, zip int}}, ok bool",
     obj(person=obj(name=S, address=obj(street=S, zip=INT)), ok=B)),
    ("name\nage int\nbio: one, two, three",  # newlines separate: commas stay in descriptions
     obj(name=S, age=INT, bio={"type": "string", "description": "one, two, three"})),
    ("address {street: the street, city}: where they live",
     obj(address={**obj(street={"type": "string", "description": "the street"}, city=S),
                  "description": "where they live"})),
    ("a {\n  b int\n  c: x, y\n}, d", obj(a=obj(b=INT, c={"type": "string",
                                                        "description": "x, y"}), d=S)),
    ("name, age int,", obj(name=S, age=INT)),  # a trailing comma is harmless
    ("  name ,  age   INT  ", obj(name=S, age=INT)),
]


@pytest.mark.parametrize(("spec", "schema"), CASES, ids=[c[0] for c in CASES])
def test_short_syntax_becomes_this_schema(spec: str, schema: dict[str, object]) -> None:
    assert parse_short(spec) == schema


ERRORS = [
    ("name, age flot", "unknown type 'flot' at column 11", "use str, int, float or bool"),
    ("address {street, city", "missing '}' to close the object opened at column 9", ""),
    ("tags [str", "missing ']' to close the list opened at column 6", ""),
    ("tags []", "a list needs the type of its items, e.g. [str] at column 6", ""),
    ("a {}", "an object needs at least one field at column 3", ""),
    ("x, x", "the field 'x' is given twice at column 4", ""),
    ("", "the schema has no fields", ""),
    ("name, 9lives", "expected a field name, found '9' at column 7", ""),
    ("items [{title, price float]", "expected ',' or a new line after the field 'price', "
     "found ']' at column 27", ""),
    ("a\nb flot", "unknown type 'flot' at line 2, column 3", ""),
]


@pytest.mark.parametrize(("spec", "message", "fix"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_a_bad_spec_names_the_column_and_the_fix(spec: str, message: str, fix: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_short(spec)
    assert message in caught.value.message
    assert fix in caught.value.message
    assert "name, age int" in (caught.value.hint or "")  # the hint shows how to write one
