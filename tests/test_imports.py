"""`import talkline` stays light: no click, rich or prompt_toolkit."""

from __future__ import annotations

import json
import subprocess
import sys

from .clihelp import SRC


def loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC},
        check=True,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_library_does_not_import_cli_libraries():
    mods = loaded_after(
        "import talkline\nfrom talkline import Client, AsyncClient, Message\n"
        "import talkline.client, talkline.types, talkline.errors"
    )
    for heavy in ("click", "rich", "prompt_toolkit"):
        assert heavy not in mods, heavy
    assert "talkline.client" in mods


def test_bare_import_is_lazy():
    mods = loaded_after("import talkline")
    assert "httpx" not in mods
    assert "talkline.client" not in mods


def test_cli_help_does_not_import_httpx():
    mods = loaded_after(
        "import talkline.cli\n"
        "try:\n talkline.cli.cli.main(['--help'], standalone_mode=False)\n"
        "except SystemExit: pass"
    )
    assert "httpx" not in mods and "rich" not in mods
