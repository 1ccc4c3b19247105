"""Every command and option the CLI has is in the README's command reference."""

from __future__ import annotations

from pathlib import Path

import click

from talkline.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def commands() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    out: list[tuple[str, ...]] = []
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        if isinstance(cmd, click.Group):
            out += [(name, sub) for sub in cmd.list_commands(ctx)]
        else:
            out.append((name,))
    return out


def test_every_command_is_documented():
    lines = README.splitlines()
    missing = []
    for path in commands():
        head = f"talkline {path[0]}" if path[0] != "prompt" else "talkline [PROMPT]"
        if not any(head in line and (len(path) == 1 or path[1] in line) for line in lines):
            missing.append(" ".join(path))
    assert not missing, f"undocumented in README.md: {missing}"


def test_every_prompt_option_is_documented():
    ctx = click.Context(cli)
    prompt = cli.get_command(ctx, "prompt")
    assert prompt is not None
    missing = [
        opt for param in prompt.params if isinstance(param, click.Option)
        for opt in param.opts if opt.startswith("--") and f"`{opt}" not in README
        and f"{opt}`" not in README and f"/{opt}" not in README
    ]
    assert not missing, f"options missing from README.md: {missing}"
