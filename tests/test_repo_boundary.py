"""Nothing in the repository reads from beside it (a plain clone has no `../shared`).

Two nets: a static scan of every tracked file under tests/, tools/, bench/, .ci/ and src/ for
paths that climb out of the repository, and the runtime guard (tests/repo_guard.py, installed
by conftest.py) that fails a test which opens a file beside the repository. A line that must
climb (.ci/run going from .ci/ to the repository's root) carries the marker `repo-boundary: ok`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repo_guard import REPO, OutsideReadGuard

SCANNED = ("tests", "tools", "bench", ".ci", "src")
# Not scanned: the cut of the official spec (data, not code that reads), the web page's
# vendored minified libraries (browser code: it reads no file, and its URL parser spells
# '..'), and this file, whose examples climb on purpose (the runtime guard still watches what
# it opens).
UNSCANNED = ("tests/openapi/", "src/talkline/serve/static/vendor/", "tests/test_repo_boundary.py")
MARKER = "repo-boundary: ok"

# The patterns are spelled so that this file does not match them itself.
_FILE = r"Path\(__file__\)(?:\.resolve\(\))?"
_PARENTS = re.compile(_FILE + r"\.parents\[(\d+)\]")
_PARENT_CHAIN = re.compile(_FILE + r"((?:\.parent\b)+)")
_CLIMBS = (
    (re.compile(r"(?<![\w.])\.\.(?=[/\\\"')]|\s*$|\s*;|\s+&&)"), "a '..' path component"),
    (re.compile(r"\bos\.par[d]ir\b|\bpar[d]ir\b"), "os.pardir"),
    (re.compile(r"(?<![\w-])shared[/\\]"), "the shared folder beside the repository"),
    (re.compile(r"/\s*[\"']shared[\"']"), "the shared folder beside the repository"),
)


def tracked_files() -> list[str]:
    """The repository's tracked files in the scanned folders (every file when not in git)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--", *SCANNED],
            capture_output=True, check=True, text=True, timeout=60,
        ).stdout
        return sorted(p for p in out.split("\0") if p)
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            str(p.relative_to(REPO)) for top in SCANNED for p in (REPO / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )


def climbs(rel: str, text: str) -> list[str]:
    """Each line of the file `rel` (relative to the root) whose path leaves the repository."""
    depth = rel.count("/")  # Path(__file__).parents[depth] is the repository's root
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if MARKER in line:
            continue
        why = [f"parents[{n}] climbs above the root" for n in map(int, _PARENTS.findall(line))
               if n > depth]
        why += [f"{len(c) // 7} x .parent climbs above the root"
                for c in _PARENT_CHAIN.findall(line) if len(c) // 7 > depth + 1]
        why += [reason for pattern, reason in _CLIMBS if pattern.search(line)]
        if why:
            found.append(f"{rel}:{number}: {'; '.join(why)}: {line.strip()}")
    return found


def test_no_tracked_file_reads_beside_the_repository() -> None:
    files = [f for f in tracked_files() if not f.startswith(UNSCANNED)]
    assert any(f.startswith("tests/") for f in files) and "tests/openapi_schema.py" in files
    problems = []
    for rel in files:
        try:
            text = (REPO / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary data (the tokenizer tables), or deleted but not yet committed
        problems += climbs(rel, text)
    assert not problems, (
        "these lines reach outside the repository; carry what they need inside it "
        f"(or mark a line that must climb with '{MARKER}'):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("rel", "line"),
    [
        ("tests/test_x.py", 'SPEC = Path(__file__).resolve().parents[2] / "x" / "openapi.yaml"'),
        ("tests/test_x.py", "ROOT = Path(__file__).parent.parent.parent"),
        ("tools/x.py", 'spec = open("../x/openapi.yaml")'),
        ("bench/x.py", "os.path.join(here, os.pardir, os.pardir)"),
        ("tests/test_x.py", 'path = REPO.parent / "shared" / "REFERENCE.md"'),
        (".ci/run", "cp ../shared/openapi/openapi.yaml tests/"),
        (".ci/run", 'cd "$(dirname "$0")/../.."'),
        (".ci/run", "cd .. && ls shared"),
    ],
)
def test_the_scan_sees_each_way_out(rel: str, line: str) -> None:
    assert climbs(rel, line), line


@pytest.mark.parametrize(
    ("rel", "line"),
    [
        ("tests/test_x.py", 'SRC = Path(__file__).resolve().parents[1] / "src"'),
        ("tests/test_x.py", "ROOT = Path(__file__).resolve().parent.parent"),
        ("src/talkline/backends/x.py", "here = Path(__file__).parents[2]"),
        ("tests/test_x.py", 'conv = store.create_conversation(title="shared")'),
        ("src/talkline/x.py", 'hint = "path = \\".../model.gguf\\""'),
        ("src/talkline/cli/x.py", "from .. import __version__"),
        (".ci/run", f'cd "$(dirname "$0")/.."  # {MARKER}: from .ci/ to the root'),
    ],
)
def test_the_scan_lets_paths_inside_pass(rel: str, line: str) -> None:
    assert not climbs(rel, line), line


def test_guard_watches_beside_the_repository_only(tmp_path: Path) -> None:
    repo = tmp_path / "parent" / "talkline"
    repo.mkdir(parents=True)
    guard = OutsideReadGuard(repo)
    assert guard.forbidden(tmp_path / "parent" / "shared" / "openapi" / "openapi.yaml")
    assert guard.forbidden(tmp_path / "parent" / "README.md")
    assert guard.forbidden(str(repo / ".." / "shared" / "x").encode())
    assert not guard.forbidden(repo / "tests" / "openapi" / "openapi-subset.json")
    assert not guard.forbidden(tmp_path / "elsewhere.txt")  # not beside the repository
    assert not guard.forbidden(Path(sys.prefix) / "lib" / "x.py")
    assert not guard.forbidden("/etc/hosts")
    # The venv may sit beside the repository (/work/venv next to /work/main): exempt.
    venv = OutsideReadGuard(Path(sys.prefix).parent / "talkline")
    assert not venv.forbidden(Path(sys.prefix) / "bin" / "python")
    assert venv.forbidden(Path(sys.prefix).parent / "shared" / "REFERENCE.md")


def test_guard_records_what_the_session_opens_beside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "parent" / "talkline"
    beside = tmp_path / "parent" / "shared.txt"
    repo.mkdir(parents=True)
    beside.write_text("x")
    guard = OutsideReadGuard(repo)
    guard.install()  # stays installed for the rest of this process, recording only into guard
    (repo / "inside.txt").write_text("x")
    beside.read_text()
    with open(beside, "rb"):
        pass
    assert guard.take() == [str(beside)]
    assert guard.take() == []
    assert "copy the file into the repository" in guard.message([str(beside)])


PLANTED = '''
from pathlib import Path

def test_reads_shared() -> None:
    spec = Path(__file__).resolve().parents[2] / "shared" / "openapi.yaml"
    assert spec.read_text() == "openapi: 3.1.0"

def test_reads_inside() -> None:
    assert (Path(__file__).resolve().parent / "data.txt").read_text() == "inside"
'''

PLANTED_AT_IMPORT = '''
from pathlib import Path

TEXT = (Path(__file__).resolve().parents[2] / "shared" / "openapi.yaml").read_text()

def test_nothing() -> None:
    assert TEXT
'''


def test_the_suite_fails_a_test_that_reads_beside_the_repository(tmp_path: Path) -> None:
    """A copy of this suite's conftest.py and guard, with planted reads of ../shared."""
    repo = tmp_path / "outer" / "project"
    tests = repo / "tests"
    tests.mkdir(parents=True)
    (tmp_path / "outer" / "shared").mkdir()
    (tmp_path / "outer" / "shared" / "openapi.yaml").write_text("openapi: 3.1.0")
    (repo / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    for name in ("__init__.py", "conftest.py", "repo_guard.py"):
        shutil.copyfile(REPO / "tests" / name, tests / name)
    (tests / "data.txt").write_text("inside")
    (tests / "test_planted.py").write_text(PLANTED)
    (tests / "test_planted_at_import.py").write_text(PLANTED_AT_IMPORT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         "--continue-on-collection-errors"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAILED tests/test_planted.py::test_reads_shared" in out, out
    assert "ERROR tests/test_planted_at_import.py" in out, out
    assert "1 failed, 1 passed, 1 error" in out, out
    assert "read outside the repository" in out, out
    assert str(tmp_path / "outer" / "shared" / "openapi.yaml") in out, out
    assert "copy the file into the repository (e.g. under tests/)" in out, out
