"""The repository's cut of the OpenAPI spec is whole, sourced, and made by tools/cut_openapi.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from openapi_schema import SPEC_PATH, validate
from repo_guard import REPO

HERE = SPEC_PATH.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cut_openapi", REPO / "tools" / "cut_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for k, v in node.items() if k != "$ref" for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def subset() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def test_every_reference_resolves_inside_the_subset() -> None:
    schemas = subset()["components"]["schemas"]
    prefix = "#/components/schemas/"
    dangling = {r for r in _refs(schemas) if not r.startswith(prefix) or r[len(prefix):]
                not in schemas}
    assert not dangling


def test_the_roots_are_the_tools_and_the_source_names_them() -> None:
    data = subset()
    roots = data["x-talkline-cut"]["roots"]
    assert roots == list(_tool().ROOTS)
    for name in ("CreateChatCompletionRequest", "CreateCompletionResponse", "CreateResponse",
                 "Response", "ResponseStreamEvent", "ListModelsResponse", "ListFilesResponse",
                 "ListBatchesResponse", "ErrorResponse"):
        assert name in roots and name in data["components"]["schemas"]
    # The stream events ResponseStreamEvent names came along with it.
    assert "ResponseTextDeltaEvent" in data["components"]["schemas"]
    source = (HERE / "SOURCE.md").read_text(encoding="utf-8")
    assert "https://github.com/openai/openai-openapi" in source
    assert f"API version {data['info']['version']}" in source
    assert "tools/cut_openapi.py" in source and "- Commit: " in source and "- Date: " in source
    assert all(f"- {r}\n" in source for r in roots)
    assert (HERE / "LICENSE").read_text(encoding="utf-8").startswith("The MIT License")


def test_the_new_roots_validate() -> None:
    validate("ListFilesResponse", {"object": "list", "data": [], "has_more": False,
                                   "first_id": "file-a", "last_id": "file-a"})
    validate("ResponseTextDeltaEvent", {"type": "response.output_text.delta", "item_id": "msg_1",
                                        "output_index": 0, "content_index": 0, "delta": "Hi",
                                        "sequence_number": 1, "logprobs": []})
    with pytest.raises(AssertionError, match="does not match ResponseStreamEvent"):
        validate("ResponseStreamEvent", {"type": "response.output_text.delta"})


def test_an_unknown_schema_says_how_to_add_it() -> None:
    with pytest.raises(KeyError, match="add it to ROOTS in tools/cut_openapi.py"):
        validate("NoSuchSchema", {})


TINY_SPEC = """\
openapi: 3.1.0
info: {title: tiny, version: 9.9.9}
paths: {}
components:
  schemas:
    Root:
      type: object
      properties:
        a: {$ref: "#/components/schemas/A"}
    A:
      anyOf: [{$ref: "#/components/schemas/B"}, {type: "null"}]
    B: {type: string}
    Unused: {type: integer}
"""


def test_the_tool_cuts_roots_and_their_references(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text(TINY_SPEC)
    (tmp_path / "LICENSE").write_text("The MIT License\n")
    out = tmp_path / "out"
    code = _tool().main([str(tmp_path / "openapi.yaml"), "Root", "--commit", "abc123",
                         "--date", "2026-01-02", "--out", str(out)])
    assert code == 0
    cut = json.loads((out / "openapi-subset.json").read_text())
    assert list(cut["components"]["schemas"]) == ["Root", "A", "B"]
    assert cut["components"]["schemas"]["A"]["anyOf"][1] == {"type": "null"}
    assert cut["x-talkline-cut"]["roots"] == ["Root"]
    assert (out / "LICENSE").read_text() == "The MIT License\n"
    source = (out / "SOURCE.md").read_text()
    assert "- Commit: abc123\n" in source and "- Date: 2026-01-02\n" in source
    assert "API version 9.9.9" in source and "- Root\n" in source


def test_the_tool_refuses_an_unknown_root(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text(TINY_SPEC)
    (tmp_path / "LICENSE").write_text("The MIT License\n")
    with pytest.raises(SystemExit, match="no such schema in the spec: Nope"):
        _tool().main([str(tmp_path / "openapi.yaml"), "Nope", "--commit", "x", "--date", "y",
                      "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out" / "openapi-subset.json").exists()


def test_the_tool_needs_the_spec_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _tool().main(["--commit", "x", "--date", "y"])
    assert exc.value.code == 2
    assert "spec" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _tool().main([str(tmp_path / "missing.yaml"), "--commit", "x", "--date", "y"])
    assert "must exist" in capsys.readouterr().err
