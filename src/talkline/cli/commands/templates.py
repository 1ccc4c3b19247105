"""`talkline templates`: the templates and roles (`--template NAME`) listed, shown,
edited and removed."""

from __future__ import annotations

from pathlib import Path

import click

from ..app import current_app

_STUB = """\
# A talkline template (talkline --template {name}). Every key is optional.
system = "You are a careful reviewer."
# prompt = "Review this $lang code:\\n\\n$input"   # $input: the prompt and piped stdin
# model = "gpt-4o-mini"
# schema = "verdict, issues [str]"
# context = "truncate"
# functions = "tools.py"                          # relative to this folder
# [params]
# temperature = 0.2
# [defaults]
# lang = "Python"
"""


@click.group()
def templates() -> None:
    """Templates and roles: TOML files used with --template NAME."""


def _folder() -> Path:
    from ...settings.paths import Paths

    return Paths.resolve().templates_dir


def _usage(exc: Exception) -> click.UsageError:
    from ...errors import ConfigError

    if isinstance(exc, ConfigError):
        return click.UsageError(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message)
    return click.UsageError(str(exc))


@templates.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def templates_list(as_json: bool) -> None:
    """List the templates and roles: name, kind, where it comes from, its first line."""
    from ...templates import listing

    term = current_app().term
    entries = listing(_folder())
    if as_json:
        term.write_json([e.to_dict() for e in entries])
        return
    for e in entries:
        line = f"error: {e.error}" if e.error else e.first_line
        term.write_line(f"{e.name:<16} {e.kind:<9} {e.source:<28} {line[:70]}")


@templates.command("show")
@click.argument("name")
def templates_show(name: str) -> None:
    """Print the template NAME (its TOML)."""
    from ...errors import ConfigError
    from ...templates import BUILTIN_DIR, check_name

    try:
        check_name(name)
    except ConfigError as exc:
        raise _usage(exc) from None
    for path in (_folder() / f"{name}.toml", BUILTIN_DIR / f"{name}.toml"):
        if path.is_file():
            current_app().term.write_line(path.read_text(encoding="utf-8").rstrip("\n"))
            return
    raise click.UsageError(f'no template named "{name}": `talkline templates list` shows '
                           "them.")


@templates.command("edit")
@click.argument("name")
def templates_edit(name: str) -> None:
    """Edit the template NAME in $EDITOR (created from a stub, or from the built-in role of
    that name, when missing); it is checked after."""
    from ...errors import ConfigError
    from ...settings.paths import Paths
    from ...settings.private import open_private
    from ...templates import BUILTIN_DIR, check_name, load

    try:
        check_name(name)
    except ConfigError as exc:
        raise _usage(exc) from None
    folder = _folder()
    path = folder / f"{name}.toml"
    if not path.exists():
        builtin = BUILTIN_DIR / f"{name}.toml"
        stub = builtin.read_text(encoding="utf-8") if builtin.is_file() \
            else _STUB.format(name=name)
        Paths(folder.parent, folder.parent).ensure_private_dir(folder)
        with open_private(path, "w", encoding="utf-8") as fh:
            fh.write(stub)
    click.edit(filename=str(path))
    term = current_app().term
    try:
        load(name, folder)
    except ConfigError as exc:
        raise click.UsageError(f"{exc.message}\nThe file is kept as you left it: run "
                               f"`talkline templates edit {name}` again to fix it.") from None
    term.status(f'template "{name}" is valid ({path})')


@templates.command("rm")
@click.argument("name")
def templates_rm(name: str) -> None:
    """Remove the template NAME (a built-in role cannot be removed; removing a file that
    overrides one brings the built-in back)."""
    from ...errors import ConfigError
    from ...templates import remove

    try:
        said = remove(name, _folder())
    except ConfigError as exc:
        raise _usage(exc) from None
    current_app().term.status(said)
