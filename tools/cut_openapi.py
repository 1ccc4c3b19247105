"""Cut the part of the official OpenAI OpenAPI spec that talkline's tests use.

    python tools/cut_openapi.py PATH/TO/openapi.yaml --commit SHA --date YYYY-MM-DD [ROOT ...]

Reads the full spec (the only file this project reads from outside the repository, and only
when a developer runs this by hand with its path), keeps the component schemas named by the
roots and everything they reference, transitively, and writes into tests/openapi/:

* openapi-subset.json  the cut, schemas unchanged, in the spec's own order;
* LICENSE              the spec's licence (MIT), copied from beside the spec;
* SOURCE.md            where it came from: repository, commit, date, API version, the roots.

Without ROOT arguments the ROOTS list below is used. Needs PyYAML (the test extra).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "openapi"
SOURCE_REPOSITORY = "https://github.com/openai/openai-openapi"

ROOTS = (
    # Chat Completions
    "CreateChatCompletionRequest",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    # (legacy) Completions
    "CreateCompletionRequest",
    "CreateCompletionResponse",
    # Responses
    "CreateResponse",
    "Response",
    "ResponseStreamEvent",
    # Models
    "Model",
    "ListModelsResponse",
    "DeleteModelResponse",
    # Files
    "OpenAIFile",
    "ListFilesResponse",
    "DeleteFileResponse",
    "CreateFileRequest",
    # Batches
    "Batch",
    "ListBatchesResponse",
    "CreateBatchRequest",
    # Errors
    "ErrorResponse",
)

_REF = re.compile(r"^#/components/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$")


def _refs(node: Any) -> Iterator[tuple[str, str]]:
    """Every local ``#/components/<section>/<name>`` reference inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                m = _REF.match(value)
                if not m:
                    raise SystemExit(f"cut_openapi: cannot follow reference {value!r}")
                yield m.group(1), m.group(2)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def cut(spec: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """The spec's header and the components reachable from ``roots`` (schemas), unchanged."""
    components: dict[str, dict[str, Any]] = spec["components"]
    missing = [r for r in roots if r not in components["schemas"]]
    if missing:
        raise SystemExit(f"cut_openapi: no such schema in the spec: {', '.join(missing)}")
    keep: set[tuple[str, str]] = set()
    todo = [("schemas", r) for r in roots]
    while todo:
        section, name = todo.pop()
        if (section, name) in keep:
            continue
        try:
            node = components[section][name]
        except KeyError:
            msg = f"cut_openapi: dangling reference #/components/{section}/{name}"
            raise SystemExit(msg) from None
        keep.add((section, name))
        todo.extend(_refs(node))
    out: dict[str, Any] = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-talkline-cut": {"roots": roots, "tool": "tools/cut_openapi.py"},
        "components": {},
    }
    for section, entries in components.items():
        kept = {n: v for n, v in entries.items() if (section, n) in keep}
        if kept:
            out["components"][section] = kept
    return out


def source_md(subset: dict[str, Any], commit: str, date: str) -> str:
    roots = subset["x-talkline-cut"]["roots"]
    count = len(subset["components"]["schemas"])
    return (
        "# The OpenAPI schemas the tests validate against\n\n"
        "`openapi-subset.json` is part of the official OpenAI API specification, cut by\n"
        "`tools/cut_openapi.py` from the full `openapi.yaml`: the root schemas below and\n"
        f"every schema they reference, transitively ({count} schemas), unchanged.\n\n"
        f"- Source: {SOURCE_REPOSITORY} (`openapi.yaml`)\n"
        f"- Commit: {commit}\n"
        f"- Date: {date}\n"
        f"- OpenAPI {subset['openapi']}, API version {subset['info']['version']}\n"
        "- Licence: MIT (`LICENSE` beside this file)\n\n"
        "To refresh it: `python tools/cut_openapi.py PATH/TO/openapi.yaml --commit SHA "
        "--date YYYY-MM-DD`.\n\n"
        "Roots:\n\n" + "".join(f"- {r}\n" for r in roots)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the full openapi.yaml (with LICENSE beside it)")
    parser.add_argument("roots", nargs="*", help="root schema names (default: the ROOTS list)")
    parser.add_argument("--commit", required=True, help="the source repository's commit")
    parser.add_argument("--date", required=True, help="that commit's date, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    licence = args.spec.parent / "LICENSE"
    if not args.spec.is_file() or not licence.is_file():
        parser.error(f"{args.spec} (and a LICENSE beside it) must exist")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with args.spec.open("rb") as f:
        spec = yaml.load(f, Loader=loader)
    subset = cut(spec, list(args.roots or ROOTS))
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(subset, indent=1, ensure_ascii=False) + "\n"
    (args.out / "openapi-subset.json").write_text(text, encoding="utf-8")
    shutil.copyfile(licence, args.out / "LICENSE")
    (args.out / "SOURCE.md").write_text(source_md(subset, args.commit, args.date), "utf-8")
    print(f"{len(subset['components']['schemas'])} schemas, {len(text):,} bytes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
