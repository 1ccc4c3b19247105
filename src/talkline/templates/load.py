"""One template: found by name or path, read (bounded, UTF-8, TOML) and checked field by
field, so a wrong value is refused naming the file and the key before anything is sent."""

from __future__ import annotations

import json
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ParamError
from ..types import ChatParams, params_from_mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["BUILTIN_DIR", "KNOWN_KEYS", "MAX_TEMPLATE_BYTES", "NAME_RULE", "Template",
           "check_name", "is_path", "load", "parse", "toml_loads"]

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "data" / "roles"
MAX_TEMPLATE_BYTES = 256 * 1024
CONTEXT_STRATEGIES = ("truncate", "summarize", "error")
KNOWN_KEYS = ("system", "prompt", "model", "params", "schema", "schema_multi", "functions",
              "context", "defaults")
NAME_RULE = ("a template name is 1 to 64 letters, digits, _ . or -, not starting with a "
             "dot")
_NAME = re.compile(r"^(?!\.)[A-Za-z0-9_.-]{1,64}$")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.endswith(".toml"):
        raise ConfigError(f"{name!r} is not a template name: {NAME_RULE} (and no .toml: "
                          "it is added)")
    return name


@dataclass(frozen=True)
class Template:
    """A checked template. `params` holds every request parameter but `max_tokens`, kept
    apart as the flags keep it (its wire name depends on the model)."""

    name: str
    path: Path | None = None  # None for a built-in role read from the package
    builtin: bool = False
    system: str | None = None
    prompt: str | None = None
    model: str | None = None
    params: ChatParams = field(default_factory=ChatParams)
    max_tokens: int | None = None
    schema: str | None = None
    schema_multi: bool = False
    functions: tuple[str, ...] = ()
    context: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    keys: frozenset[str] = frozenset()  # the keys the file sets

    @property
    def is_role(self) -> bool:
        """A role is a template with only a system prompt."""
        return self.keys == {"system"}

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    def first_line(self) -> str:
        text = self.system or self.prompt or ""
        return next((line.strip() for line in text.splitlines() if line.strip()), "")


def is_path(ref: str) -> bool:
    """`--template ./x.toml` or `a/b`: a file; anything else is a name."""
    return "/" in ref or ref.endswith(".toml")


def load(ref: str, templates_dir: Path) -> Template:
    """The template `ref` names: a file path, a file in the templates folder, or a
    built-in role (a file of the same name overrides it)."""
    if is_path(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ConfigError(f"template file {path} does not exist",
                              hint="Give the path of a .toml template, or a template name "
                                   "(`talkline templates list`).")
        return parse(path.stem, read(path), path)
    check_name(ref)
    path = templates_dir / f"{ref}.toml"
    if path.is_file():
        return parse(ref, read(path), path)
    builtin = BUILTIN_DIR / f"{ref}.toml"
    if builtin.is_file():
        return parse(ref, read(builtin), None, builtin=True)
    raise ConfigError(f'no template named "{ref}" (looked in {templates_dir} and the '
                      "built-in roles)",
                      hint="`talkline templates list` shows them; `talkline templates edit "
                           f"{ref}` creates it.")


def read(path: Path) -> dict[str, Any]:
    """The file's TOML table: at most MAX_TEMPLATE_BYTES, UTF-8, valid TOML."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read template {path}: {exc.strerror}") from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise ConfigError(f"template {path} is larger than {MAX_TEMPLATE_BYTES // 1024} KiB, "
                          "the limit for a template",
                          hint="Keep long texts in a file you pipe in as $input.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"template {path} is not UTF-8: byte {exc.start} cannot be decoded",
                          hint="Save it as UTF-8 (e.g. iconv -f latin1 -t utf-8).") from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"template {path} is not valid TOML: {exc}",
                          hint=f"Fix it with `talkline templates edit {path.stem}` (or your "
                               "editor).") from None
    return data


def toml_loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(text)
    return data


def parse(name: str, data: dict[str, Any], path: Path | None, *,
          builtin: bool = False) -> Template:
    """Check each key of a template's table; the first wrong one is refused."""
    where = f"template {path or name}"
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}. Known keys: "
                          f"{', '.join(KNOWN_KEYS)}")
    system = _text(data, "system", where)
    prompt = _text(data, "prompt", where)
    for key, text in (("system", system), ("prompt", prompt)):
        if text is not None:
            _check_placeholders(text, f"{where}: {key}")
    if system is not None and "input" in _names(system):
        raise ConfigError(f"{where}: system cannot use $input: the input goes into prompt "
                          '(e.g. prompt = "Review this:\\n$input")')
    raw_params = data.get("params", {})
    if not isinstance(raw_params, dict):
        raise ConfigError(f"{where}: params must be a table ([params] with name = value)")
    values = dict(raw_params)
    max_tokens = values.pop("max_tokens", None)
    try:
        params = params_from_mapping(values)
        if max_tokens is not None:
            max_tokens = params_from_mapping({"max_tokens": max_tokens}).max_tokens
    except ParamError as exc:
        raise ConfigError(f"{where}: [params] {exc.message}") from None
    schema = data.get("schema")
    if isinstance(schema, dict):
        schema = json.dumps(schema)
    elif schema is not None and not isinstance(schema, str):
        raise ConfigError(f"{where}: schema must be a string (as --schema takes) or a JSON "
                          "schema table")
    multi = data.get("schema_multi", False)
    if not isinstance(multi, bool):
        raise ConfigError(f"{where}: schema_multi must be true or false")
    functions = data.get("functions", ())
    if isinstance(functions, str):
        functions = (functions,)
    if not isinstance(functions, (list, tuple)) or not all(
            isinstance(f, str) and f for f in functions):
        raise ConfigError(f"{where}: functions must be a path to a .py file (or a list of "
                          "them), relative to the template's folder")
    context = data.get("context")
    if context is not None and context not in CONTEXT_STRATEGIES:
        raise ConfigError(f"{where}: context must be one of {', '.join(CONTEXT_STRATEGIES)}, "
                          f"got {context!r}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for v in defaults.values()):
        raise ConfigError(f"{where}: [defaults] must be a table of variable = \"value\"")
    return Template(
        name=name, path=path, builtin=builtin, system=system, prompt=prompt,
        model=_text(data, "model", where), params=params, max_tokens=max_tokens,
        schema=schema, schema_multi=multi, functions=tuple(functions), context=context,
        defaults={k: str(v) for k, v in defaults.items()}, keys=frozenset(data),
    )


def _text(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f'{where}: {key} must be a string, e.g. {key} = "..."')
    return value


def _names(text: str) -> set[str]:
    return {m.group("named") or m.group("braced") for m in
            string.Template.pattern.finditer(text)} - {None}


def _check_placeholders(text: str, where: str) -> None:
    for m in string.Template.pattern.finditer(text):
        if m.group("invalid") is not None:
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{where}, line {line}: a $ that starts no variable name",
                              hint="Write $$ for a literal $, or $name / ${name} for a "
                                   "variable.")
