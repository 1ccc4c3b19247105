"""`talkline config`: show the resolved settings (key redacted) and where they live."""

from __future__ import annotations

import click

from ..app import current_app


@click.group()
def config() -> None:
    """Show settings and the config file's location."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config_show(as_json: bool) -> None:
    """Print the resolved settings; the API key is redacted."""
    from ...settings import Settings as Settings

    settings = Settings.resolve()
    data = settings.redacted()
    term = current_app().term
    if as_json:
        term.write_json(data)
        return
    for key, value in data.items():
        term.write_line(f"{key:16} {_shown(value)}")


def _shown(value: object) -> str:
    """One setting as text: `(none)` for unset or empty, lists comma-separated, tables
    as JSON."""
    import json

    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@config.command("path")
def config_path() -> None:
    """Print the path of config.toml."""
    from ...settings import Paths as Paths

    current_app().term.write_line(str(Paths.resolve().config_file))
