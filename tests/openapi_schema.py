"""Validate objects against the official OpenAI OpenAPI 3.1 spec's component schemas.

The schemas are the repository's own cut of the spec, `tests/openapi/openapi-subset.json`
(see SOURCE.md there; `tools/cut_openapi.py` makes it), so the suite needs nothing from
outside the repository.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parent / "openapi" / "openapi-subset.json"

__all__ = ["SPEC_PATH", "validate"]


def _fix_nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (still found in the spec) -> JSON Schema anyOf null."""
    if isinstance(node, list):
        return [_fix_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fix_nullable(v) for k, v in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [out, {"type": "null"}]}
    out.pop("nullable", None)
    return out


@functools.lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    """The subset's component schemas (nullable fixed), parsed once per process."""
    with SPEC_PATH.open("rb") as f:
        spec = json.load(f)
    return {"schemas": _fix_nullable(spec["components"]["schemas"])}


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    components = _components()
    if schema_name not in components["schemas"]:
        raise KeyError(
            f"no schema {schema_name!r} in {SPEC_PATH.name}: add it to ROOTS in "
            "tools/cut_openapi.py and run the tool on the full spec"
        )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{schema_name}",
        "components": components,
    }
    return jsonschema.Draft202012Validator(schema)


def validate(schema_name: str, instance: Any) -> None:
    """Raise AssertionError (with every problem listed) unless ``instance`` matches
    ``#/components/schemas/<schema_name>``."""
    errors = sorted(_validator(schema_name).iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return
    lines = [f"instance does not match {schema_name} ({len(errors)} problem(s)):"]
    for err in errors[:10]:
        best = jsonschema.exceptions.best_match([err])
        where = "/".join(str(p) for p in best.absolute_path) or "<root>"
        lines.append(f"  at {where}: {best.message}")
    raise AssertionError("\n".join(lines))
