"""`--save NAME`: the flags of this command line, and its prompt, as a template.

Saved: the model, the system prompt, every request parameter, the schema, the tool files,
the context strategy and the prompt. Never saved: `--key` (a secret) and `--base-url` (a
template may be shared; one that named a server would send the user's key there), nor the
connection's policy (retries, timeouts, deadline, fallbacks, budget, api).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

__all__ = ["save_template"]


def save_template(name: str, opts: Mapping[str, object], prompt: str | None, *,
                  force: bool) -> Path:
    """Write templates/NAME.toml from `opts`; where it went."""
    from ..errors import ConfigError
    from ..settings.paths import Paths
    from ..templates import save
    from .flags import RequestFlags

    if opts.get("template") is not None:
        raise click.UsageError("--save saves the flags given now, not a template: give "
                               "either --template or --save (to copy a template, "
                               "`talkline templates show NAME` prints it).")
    flags = RequestFlags.parse(opts)
    data: dict[str, Any] = {}
    given = flags.given
    if given.model:
        data["model"] = given.model
    if given.system is not None:
        data["system"] = _literal(given.system)
    if prompt:
        data["prompt"] = _literal(prompt)
    schema = opts.get("schema")
    if isinstance(schema, str):
        data["schema"] = schema
        if opts.get("schema_multi"):
            data["schema_multi"] = True
    params = given.params.to_dict()
    params.pop("model", None)
    if isinstance(schema, str):
        params.pop("response_format", None)  # made again from the schema
    if given.max_tokens is not None:
        params["max_tokens"] = given.max_tokens
    files = opts.get("functions")
    if isinstance(files, (list, tuple)) and files:
        templates_dir = Paths.resolve().templates_dir
        data["functions"] = [_relative(Path(str(f)), templates_dir) for f in files]
    if flags.context_strategy:
        data["context"] = flags.context_strategy
    if params:
        data["params"] = params
    try:
        return save(name, data, Paths.resolve().templates_dir, force=force)
    except ConfigError as exc:
        raise click.UsageError(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message
                               ) from None


def _literal(text: str) -> str:
    """A text sent as it is: its `$` are kept literal in the template."""
    return text.replace("$", "$$")


def _relative(path: Path, templates_dir: Path) -> str:
    """A tool file inside the templates folder relative to it, any other one absolute."""
    full = path.expanduser().resolve()
    try:
        return str(full.relative_to(templates_dir.resolve()))
    except ValueError:
        return str(full)
