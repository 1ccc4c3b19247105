"""The short schema syntax, which nests: `name, age int, bio: a short biography`,
`address {street, city}`, `tags [str]`, `items [{title, price float}]`.

A field is a name, an optional type and an optional description after `:`. Fields are
separated by commas or newlines; the commas inside `{...}` and `[...]` belong to the nested
level. A description runs to the end of its field: to the next newline when the level it is
in has newlines between its fields (so it may hold commas), else to the next comma. The
types are `str` (the default), `int`, `float`, `bool` and their aliases (`string`,
`integer`, `number`, `boolean`...), `{fields}` for an object and `[type]` for a list.
No I/O.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SchemaError

__all__ = ["TYPES", "parse_short"]

TYPES: dict[str, str] = {
    "str": "string", "string": "string", "text": "string",
    "int": "integer", "integer": "integer",
    "float": "number", "number": "number", "num": "number", "decimal": "number",
    "bool": "boolean", "boolean": "boolean",
}
_NAME = re.compile(r"[A-Za-z_][\w\-]*")
_TYPE_HELP = "use str, int, float or bool, {fields} for an object or [type] for a list"


def parse_short(spec: str) -> dict[str, Any]:
    """The JSON schema (an object) of a short-syntax `spec`; `SchemaError` names the column
    of the first thing that does not parse."""
    return _Parser(spec.rstrip()).fields(closer="")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str, at: int | None = None, fix: str = "") -> SchemaError:
        where = self.i if at is None else at
        line = self.text.count("\n", 0, where) + 1
        column = where - (self.text.rfind("\n", 0, where) + 1) + 1
        place = f"line {line}, column {column}" if "\n" in self.text else f"column {column}"
        return SchemaError(f"schema: {what} at {place} of {self.text!r}{fix}",
                           hint="Write fields as `name, age int, bio: a description`, "
                                "`address {street, city}`, `tags [str]` "
                                "(see talkline --help).")

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip_spaces(self, newlines: bool = False) -> None:
        while self.peek() in (" ", "\t", "\r") or (newlines and self.peek() == "\n"):
            if not self.peek():
                return
            self.i += 1

    def fields(self, closer: str) -> dict[str, Any]:
        """Fields up to `closer` (`}`, or the end of the text for the top level)."""
        start = self.i
        by_lines = self._level_has_newlines(closer)
        properties: dict[str, Any] = {}
        while True:
            self.skip_spaces(newlines=True)
            ch = self.peek()
            if ch == closer or (not ch and not closer):
                break
            if not ch:
                raise self.fail(f"missing {closer!r} to close the object opened", start - 1)
            if ch == ",":
                self.i += 1
                continue
            at = self.i
            name, prop = self.field(closer, by_lines)
            if name in properties:
                raise self.fail(f"the field {name!r} is given twice", at)
            properties[name] = prop
        if not properties:
            raise self.fail("an object needs at least one field" if closer
                            else "the schema has no fields", max(start - 1, 0))
        if closer:
            self.i += 1
        return {"type": "object", "properties": properties, "required": list(properties)}

    def field(self, closer: str, by_lines: bool) -> tuple[str, dict[str, Any]]:
        match = _NAME.match(self.text, self.i)
        if match is None:
            raise self.fail(f"expected a field name, found {self.peek()!r}")
        name = match.group()
        self.i = match.end()
        self.skip_spaces()
        prop: dict[str, Any] = {"type": "string"}
        if self.peek() not in (":", ",", "\n", closer, ""):
            prop = self.type_()
            self.skip_spaces()
        if self.peek() == ":":
            self.i += 1
            description = self.description(closer, by_lines)
            if description:
                prop = {**prop, "description": description}
        self.skip_spaces()
        if self.peek() not in (",", "\n", closer, ""):
            raise self.fail(f"expected ',' or a new line after the field {name!r}, found "
                            f"{self.peek()!r}")
        return name, prop

    def type_(self) -> dict[str, Any]:
        ch = self.peek()
        if ch == "{":
            self.i += 1
            return self.fields(closer="}")
        if ch == "[":
            opened = self.i
            self.i += 1
            self.skip_spaces(newlines=True)
            if self.peek() == "]":
                raise self.fail("a list needs the type of its items, e.g. [str]", opened)
            items = self.type_()
            self.skip_spaces(newlines=True)
            if self.peek() != "]":
                if not self.peek():
                    raise self.fail("missing ']' to close the list opened", opened)
                raise self.fail(f"expected ']' to close the list, found {self.peek()!r}")
            self.i += 1
            return {"type": "array", "items": items}
        match = _NAME.match(self.text, self.i)
        if match is None:
            if not ch:
                raise self.fail("a type is missing", fix=f": {_TYPE_HELP}")
            raise self.fail(f"expected a type, found {ch!r}", fix=f": {_TYPE_HELP}")
        word = match.group()
        kind = TYPES.get(word.lower())
        if kind is None:
            raise self.fail(f"unknown type {word!r}", fix=f": {_TYPE_HELP}")
        self.i = match.end()
        return {"type": kind}

    def description(self, closer: str, by_lines: bool) -> str:
        stops = {"\n"} if by_lines else {",", "\n"}
        if closer:
            stops.add(closer)
        start = self.i
        while self.peek() and self.peek() not in stops:
            self.i += 1
        return self.text[start:self.i].strip()

    def _level_has_newlines(self, closer: str) -> bool:
        """Whether this level separates its fields by newlines (outside nested brackets)."""
        depth = 0
        for ch in self.text[self.i:]:
            if ch in "{[":
                depth += 1
            elif ch in "}]":
                if depth == 0:
                    return False
                depth -= 1
            elif ch == "\n" and depth == 0:
                return True
        return False
