"""A clone with nothing beside it passes the wire and schema tests (the README's promise).

The clone holds only what is committed: commit before running this test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repo_guard import REPO

# The tests that talk the wire or validate against the OpenAPI schemas, and the boundary
# tests themselves (so the guard is proven in a clone with nothing beside it).
WIRE_AND_SCHEMA_TESTS = (
    "tests/test_wire.py",
    "tests/test_scripted_server.py",
    "tests/test_sse.py",
    "tests/test_openapi_subset.py",
    "tests/test_repo_boundary.py",
)
INSIDE = "TALKLINE_TEST_INSIDE_LONE_CLONE"  # set in the clone's run: no clone of the clone


def _git_toplevel() -> Path | None:
    if shutil.which("git") is None:
        return None
    proc = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--show-toplevel"],
        capture_output=True, text=True, timeout=60,
    )
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None


@pytest.mark.skipif(bool(os.environ.get(INSIDE)), reason="already running inside the clone")
def test_wire_and_schema_tests_pass_in_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    if _git_toplevel() != REPO:
        pytest.skip(f"{REPO} is not a git checkout (nothing committed to clone)")
    clone = tmp_path / "empty" / "talkline"
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120,
        capture_output=True,
    )
    assert sorted(p.name for p in clone.parent.iterdir()) == ["talkline"]
    missing = [t for t in WIRE_AND_SCHEMA_TESTS if not (clone / t).is_file()]
    assert not missing, f"not committed (the clone has only committed files): {missing}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(PYTHONPATH=str(clone / "src"), **{INSIDE: "1"})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         *WIRE_AND_SCHEMA_TESTS],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    summary = out.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    assert counts.get("passed", 0) >= 80, summary
    assert not {"failed", "error", "errors"} & counts.keys(), summary


def test_ci_runs_the_same_tests_in_a_clone_of_its_own() -> None:
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    step = run[run.index("mktemp -d"):]
    assert 'git clone --quiet . "$lone/talkline"' in step
    assert 'PYTHONPATH="$PWD/src" python -m pytest -p no:cacheprovider' in step
    assert [t for t in WIRE_AND_SCHEMA_TESTS if t not in step] == []
