"""Structured output: a schema given as a pydantic model, a dict, JSON (inline or a file)
or the short syntax that nests (`name, age int, address {street, city}, tags [str]`),
made strict-valid for `response_format: json_schema`, and the reply checked against it.
Pure: no I/O but reading a `.json` file given by its path; `jsonschema` is imported only
when a reply or a schema is checked."""

from __future__ import annotations

from .check import Problem, check_reply, json_path
from .short import TYPES, parse_short
from .source import SchemaLike, Structured, load_schema, structured
from .strict import Strictness, bounded_strings, make_strict, resolve_refs

__all__ = ["TYPES", "Problem", "SchemaLike", "Strictness", "Structured", "bounded_strings",
           "check_reply",
           "json_path", "load_schema", "make_strict", "parse_short", "resolve_refs",
           "structured"]
