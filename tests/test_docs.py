"""Every command and option the CLI has is in the README's command reference, and every
default a help text states is the default the code uses."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import click

from talkline.cli import cli
from talkline.settings import Settings

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


# ---------------------------------------------------------------- help texts tell the truth

# "(default 2)", "(default: truncate)", "default https://...; ..." and a bare "(30)" at the end.
_STATED = re.compile(r"\bdefault:?\s+`?([^\s,;)`]+)", re.I)
_BARE_NUMBER = re.compile(r"\((-?\d+(?:\.\d+)?)\)\.?$")
_SETTINGS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)
                      if f.default is not dataclasses.MISSING}


def every_command() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    out: list[tuple[str, click.Command]] = []
    for path in commands():
        cmd = cli.get_command(ctx, path[0])
        if len(path) > 1:
            assert isinstance(cmd, click.Group)
            cmd = cmd.get_command(ctx, path[1])
        assert cmd is not None
        out.append((" ".join(path), cmd))
    return out


def stated_default(help_text: str) -> str | None:
    m = _STATED.search(help_text) or _BARE_NUMBER.search(help_text)
    return m.group(1).rstrip(".") if m else None


def code_default(option: click.Option) -> Any:
    """The option's own default, else the Settings default the code falls back to."""
    value = option.default
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    return _SETTINGS_DEFAULTS.get(option.name or "")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def test_every_default_a_help_text_states_is_the_one_the_code_uses():
    wrong: list[str] = []
    checked = 0
    for path, cmd in every_command():
        for option in cmd.params:
            if not isinstance(option, click.Option) or option.is_flag or not option.help:
                continue
            stated = stated_default(option.help)
            if stated is None:
                continue
            actual = code_default(option)
            where = f"talkline {path} {option.opts[-1]}"
            choices = option.type.choices if isinstance(option.type, click.Choice) else ()
            if actual is None:  # described ("read without echo"), never a made-up value
                if _number(stated) is not None or stated in choices:
                    wrong.append(f"{where}: help says {stated!r}, the code has no default")
                continue
            checked += 1
            same = (_number(stated) == float(actual) if isinstance(actual, (int, float))
                    else stated == actual)
            if not same:
                wrong.append(f"{where}: help says {stated!r}, the code uses {actual!r}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 10  # --model, --base-url, --retries, --idle-timeout, --context...


def test_the_default_results_file_is_the_one_the_help_names(tmp_path: Path):
    from talkline.cli.commands._batch_options import default_output

    run = dict(every_command())["batch run"]
    output = next(p for p in run.params if p.name == "output")
    m = re.search(r"default: (\S+) next to the input", getattr(output, "help", ""))
    assert m is not None
    given = tmp_path / "prompts.jsonl"
    assert default_output(given) == tmp_path / m.group(1).replace("INPUT", given.name)


def test_no_short_help_is_cut_in_the_middle():
    cut = [f"talkline {path}: {short!r}" for path, cmd in every_command()
           for short in [cmd.get_short_help_str(limit=1000)]
           if short.count("(") != short.count(")") or short.count("`") % 2
           or not short.endswith(".")]
    assert not cut, cut
