"""Validate objects against the official OpenAI OpenAPI 3.1 spec's component schemas."""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openapi" / "openapi.yaml"

__all__ = ["SPEC_PATH", "validate"]

_CACHE_VERSION = 1


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
    """The spec's component schemas (nullable fixed), parsed once per process; the parsed
    form is also cached as a pickle in the temp dir, keyed by the spec's size and mtime."""
    stat = SPEC_PATH.stat()
    cache = Path(tempfile.gettempdir()) / (
        f"talkline-openapi-{stat.st_size}-{stat.st_mtime_ns}-{_CACHE_VERSION}.pickle"
    )
    try:
        with cache.open("rb") as f:
            cached: dict[str, Any] = pickle.load(f)
        return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as f:
        spec = yaml.load(f, Loader=loader)
    components = {"schemas": _fix_nullable(spec["components"]["schemas"])}
    try:
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(components, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)  # atomic: parallel workers never see half a file
    except OSError:
        pass
    return components


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    components = _components()
    if schema_name not in components["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH}")
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
