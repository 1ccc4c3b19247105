"""`--template NAME` and `--var NAME VALUE` on a command line: the template loaded, its
values put under the flags given now (`session.layers.over_template`), its tools found
(asking once before importing a file from outside the templates folder), and the message
it makes of the input."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..templates import Template
    from .flags import RequestFlags

__all__ = ["TemplateUse", "apply_template", "outside_question"]


@dataclass(frozen=True)
class TemplateUse:
    """A template in use: its variables, and the tool files it brings."""

    template: Template
    variables: dict[str, str] = field(default_factory=dict)
    functions: tuple[str, ...] = ()

    def message(self, input_text: str) -> str:
        """The message the template makes of the input (a usage error when a variable
        has no value)."""
        return self.render(input_text)[1]

    def render(self, input_text: str) -> tuple[str | None, str]:
        from ..errors import ConfigError
        from ..templates import render

        try:
            return render(self.template, self.variables, input_text)
        except ConfigError as exc:
            raise click.UsageError(exc.message) from None


def apply_template(flags: RequestFlags, opts: Mapping[str, object], templates_dir: Path
                   ) -> tuple[RequestFlags, TemplateUse | None]:
    """The flags with the template of `--template` under them (unchanged without one)."""
    from ..errors import ConfigError, SchemaError
    from ..session.layers import Given, over_template
    from ..templates import load

    ref = opts.get("template")
    raw = opts.get("variables")
    pairs = [(str(p[0]), str(p[1])) for p in raw if isinstance(p, (tuple, list)) and
             len(p) == 2] if isinstance(raw, (tuple, list)) else []
    if not isinstance(ref, str):
        if pairs:
            raise click.UsageError(f"--var {pairs[0][0]} needs --template NAME, the template "
                                   "whose variable it fills.")
        return flags, None
    try:
        template = load(ref, templates_dir)
    except ConfigError as exc:
        raise click.UsageError(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message
                               ) from None
    params, notice = template.params, None
    if template.schema is not None:
        from ..schema import structured

        try:
            spec = structured(template.schema, multi=template.schema_multi)
        except SchemaError as exc:
            raise click.UsageError(f'template "{template.name}": schema: {exc.message}'
                                   ) from None
        params = dataclasses.replace(params, response_format=spec.response_format())
        if not spec.strict:
            notice = (f"schema: cannot be strict: {spec.reason}. Sent non-strict; the reply "
                      "is checked.")
    values = dict(pairs)
    use = TemplateUse(template, values, _functions(template, templates_dir, opts))
    system, _ = use.render("x")  # a missing variable is refused now, before anything else
    below = Given(model=template.model, system=system, params=params,
                  max_tokens=template.max_tokens)
    return dataclasses.replace(
        flags, given=over_template(flags.given, below),
        context_strategy=flags.context_strategy or template.context,
        schema_notice=flags.schema_notice or (notice if "response_format" not in
                                              flags.given.params.to_dict() else None),
    ), use


def _functions(template: Template, templates_dir: Path, opts: Mapping[str, object]
               ) -> tuple[str, ...]:
    """The template's tool files, unless --functions is given now (which replaces them);
    one outside the templates folder is imported only after a yes on the terminal."""
    if opts.get("functions") or not template.functions:
        return ()
    folder = template.folder or templates_dir
    inside = templates_dir.resolve()
    files = []
    for name in template.functions:
        path = (folder / Path(name).expanduser()).resolve()
        if not path.is_relative_to(inside):
            outside_question(template.name, path)
        files.append(str(path))
    return tuple(files)


def outside_question(name: str, path: Path) -> None:
    """Ask once on /dev/tty (stdin may be the prompt); no terminal or no yes: refused."""
    question = (f'Template "{name}" runs tools from {path} (outside the templates folder). '
                "Load them? [y/N] ")
    try:
        fd = os.open(os.ctermid(), os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise click.UsageError(
            f'Template "{name}" runs tools from {path}, outside the templates folder, and '
            "there is no terminal to ask whether to load them (importing a file runs it). "
            "Move the file into the templates folder, or pass --functions "
            f"{path} explicitly.") from None
    try:
        os.write(fd, question.encode("utf-8", "replace"))
        answer = b""
        while len(answer) < 64:
            ch = os.read(fd, 1)
            if ch in (b"", b"\n", b"\r"):
                break
            answer += ch
    finally:
        os.close(fd)
    if answer.decode("utf-8", "replace").strip().lower() not in ("y", "yes"):
        raise click.UsageError(f'Template "{name}": the tools of {path} were not loaded, so '
                               "nothing was sent. Answer y to load them, or move the file "
                               "into the templates folder.")
