"""Shared fixtures. Every test runs with a private TALKLINE_HOME and no OpenAI env vars."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

_TESTS = Path(__file__).resolve().parent
_SRC = _TESTS.parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))  # lets the suite run without an editable install
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))  # `from openapi_schema import validate` works everywhere

from repo_guard import GUARD  # noqa: E402

GUARD.install()  # from here on, every file the session opens beside the repository is noted

if TYPE_CHECKING:
    from talkline.testing import ScriptedServer

_SCRUB = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT_ID",
    "TALKLINE_MODEL",
)


@pytest.fixture(autouse=True)
def talkline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private TALKLINE_HOME (and XDG dirs); OpenAI/talkline env vars removed."""
    home = tmp_path / "talkline_home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("TALKLINE_") or name in _SCRUB:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TALKLINE_HOME", str(home))
    # Tests run two at a time on two cores: one llama.cpp thread each avoids the collapse
    # of busy-waiting threads on an oversubscribed machine.
    monkeypatch.setenv("TALKLINE_LOCAL_THREADS", "1")
    for xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / "xdg" / xdg.lower()))
    return home


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A started ScriptedServer (default replies echo the last user message)."""
    from talkline.testing import ScriptedServer

    with ScriptedServer() as srv:
        yield srv


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A test (setup, call or teardown) that opened a file beside the repository fails."""
    report: pytest.TestReport = yield
    paths = GUARD.take()
    if paths:
        report.outcome = "failed"
        report.longrepr = GUARD.message(paths)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    """So does a module that opens one when it is imported."""
    report: pytest.CollectReport = yield
    paths = GUARD.take()
    if paths:
        report.outcome = "failed"
        report.longrepr = GUARD.message(paths)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Anything opened beside the repository after the last report fails the run."""
    paths = GUARD.take()
    if paths:
        sys.stderr.write(GUARD.message(paths) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
