"""`import talkline` stays light: no click, rich or prompt_toolkit; `talkline --help` loads
no command module, and a one-shot answer to a pipe no renderer."""

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
        stdin=subprocess.DEVNULL,
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


RENDERING = ("rich", "prompt_toolkit", "markdown_it", "pygments", "tiktoken")


def test_cli_help_loads_no_command_module_and_no_renderer():
    mods = loaded_after(
        "from talkline.cli import main\n"
        "try:\n main(['--help'])\n"
        "except SystemExit: pass"
    )
    for heavy in RENDERING:
        assert heavy not in mods, heavy
    commands = sorted(m for m in mods if m.startswith("talkline.cli.commands"))
    assert not commands, commands
    for module in ("talkline.errors", "talkline.settings", "talkline.cli.output.terminal"):
        assert module not in mods, module


def test_one_shot_to_a_pipe_loads_no_renderer(server, tmp_path):
    script = (
        "import os\n"
        f"os.environ.update(OPENAI_API_KEY='sk-test-imports', OPENAI_BASE_URL={server.url!r},"
        f" TALKLINE_HOME={str(tmp_path)!r})\n"
        "from talkline.cli import main\n"
        "try:\n main(['hi'])\n"
        "except SystemExit as exc: assert exc.code == 0, exc.code"
    )
    mods = loaded_after(script)
    assert "talkline.client" in mods  # it did send the request
    for heavy in RENDERING:
        assert heavy not in mods, heavy
