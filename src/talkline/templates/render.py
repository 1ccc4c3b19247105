"""A template's texts with their variables filled: `$input` (the prompt argument and
piped stdin), `$name` from `--var` or the template's `[defaults]`, `$$` a literal `$`."""

from __future__ import annotations

import string
from collections.abc import Mapping

from ..errors import ConfigError
from .load import Template

__all__ = ["AUTOMATIC", "join", "render", "variables", "wraps_input"]

# Variables every template may use without a --var: the input, and where a command runs.
AUTOMATIC = ("input", "os", "shell")


def automatic_values() -> dict[str, str]:
    """`$os` (Linux, macOS, Windows...) and `$shell` (the name of $SHELL, else sh, or
    cmd on Windows)."""
    import os
    import platform

    system = {"Darwin": "macOS"}.get(platform.system(), platform.system() or "Linux")
    shell = os.environ.get("SHELL") or os.environ.get("ComSpec") or (
        "cmd" if system == "Windows" else "sh")
    return {"os": system, "shell": os.path.basename(shell)}


def variables(text: str | None) -> list[str]:
    """The variable names in `text`, in order of first use (`input` among them)."""
    names: list[str] = []
    for m in string.Template.pattern.finditer(text or ""):
        name = m.group("named") or m.group("braced")
        if name and name not in names:
            names.append(name)
    return names


def join(prompt: str | None, text: str) -> str:
    """Input first, then the instruction (as `cat notes | talkline "Summarise this"`)."""
    return "\n\n".join(p for p in (text.rstrip("\n"), prompt) if p)


def needed(template: Template) -> list[str]:
    """The variables a value must be given for (`input` is the input, never a --var)."""
    names = variables(template.system) + variables(template.prompt)
    return [n for i, n in enumerate(names) if n not in AUTOMATIC and n not in names[:i]]


def render(template: Template, given: Mapping[str, str], input_text: str
           ) -> tuple[str | None, str]:
    """The system prompt and the message, filled. A missing variable or a --var the
    template does not use is refused (nothing is sent)."""
    names = needed(template)
    used = variables(template.system) + variables(template.prompt)
    unused = [k for k in given if k not in used or k == "input"]
    if unused:
        uses = ", ".join(f"${n}" for n in names) or "no variables"
        raise ConfigError(f'--var {unused[0]}: template "{template.name}" has no '
                          f"${unused[0]} (it uses {uses}): drop it or fix the name")
    values = {**automatic_values(), **template.defaults, **given}
    missing = [n for n in names if n not in values]
    if missing:
        raise ConfigError(f'template "{template.name}" needs ${missing[0]}: add --var '
                          f"{missing[0]} VALUE")
    if wraps_input(template) and not input_text.strip():
        raise ConfigError(f'template "{template.name}" puts the input into its prompt '
                          "($input), and there is none: give a PROMPT argument or pipe "
                          "text in")
    values["input"] = input_text.rstrip("\n")
    system = _fill(template.system, values)
    if template.prompt is None:
        return system, input_text
    if "input" in variables(template.prompt):
        return system, _fill(template.prompt, values) or ""
    return system, join(_fill(template.prompt, values), input_text)


def wraps_input(template: Template) -> bool:
    """Its prompt holds `$input`: each message is put into it."""
    return "input" in variables(template.prompt)


def _fill(text: str | None, values: Mapping[str, str]) -> str | None:
    return None if text is None else string.Template(text).substitute(values)
