"""Templates on disk: the name rule, writing one (0600 in a 0700 folder, never over
another unless forced), the listing of files and built-in roles, and removing one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .load import BUILTIN_DIR, NAME_RULE, Template, check_name, parse, read, toml_loads
from .toml_text import dumps

__all__ = ["NAME_RULE", "Entry", "check_name", "listing", "remove", "save"]

def save(name: str, data: Mapping[str, Any], templates_dir: Path, *, force: bool = False
         ) -> Path:
    """Write `data` as templates/NAME.toml; it is read back and checked first."""
    from ..settings.paths import Paths
    from ..settings.private import open_private

    check_name(name)
    text = dumps(data)
    if toml_loads(text) != dict(data):  # pragma: no cover - the writer's own check
        raise ConfigError(f'template "{name}" could not be written faithfully as TOML')
    parse(name, dict(data), None)
    path = templates_dir / f"{name}.toml"
    if path.exists() and not force:
        raise ConfigError(f'template "{name}" exists already ({path})',
                          hint="Add --force to replace it, or pick another name.")
    Paths(templates_dir.parent, templates_dir.parent).ensure_private_dir(templates_dir)
    with open_private(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


@dataclass(frozen=True)
class Entry:
    """One row of `talkline templates list`."""

    name: str
    kind: str  # role | template
    source: str  # built-in | file | file (overrides a built-in)
    first_line: str
    path: str | None
    error: str | None = None  # a file that does not load: why

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source,
                "first_line": self.first_line, "path": self.path, "error": self.error}


def listing(templates_dir: Path) -> list[Entry]:
    """Every template file and built-in role, by name; a file hides a built-in of its name
    and a broken file is listed with its error."""
    found: dict[str, Entry] = {}
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        found[path.stem] = _entry(parse(path.stem, read(path), None, builtin=True),
                                  "built-in")
    files = sorted(templates_dir.glob("*.toml")) if templates_dir.is_dir() else []
    for path in files:
        source = "file (overrides a built-in)" if path.stem in found else "file"
        try:
            found[path.stem] = _entry(parse(path.stem, read(path), path), source)
        except ConfigError as exc:
            found[path.stem] = Entry(path.stem, "?", source, "", str(path), exc.message)
    return [found[k] for k in sorted(found)]


def _entry(template: Template, source: str) -> Entry:
    return Entry(template.name, "role" if template.is_role else "template", source,
                 template.first_line(), str(template.path) if template.path else None)


def remove(name: str, templates_dir: Path) -> str:
    """Delete templates/NAME.toml; what the user sees after."""
    check_name(name)
    path = templates_dir / f"{name}.toml"
    builtin = (BUILTIN_DIR / f"{name}.toml").is_file()
    if not path.is_file():
        if builtin:
            raise ConfigError(f'"{name}" is a built-in role: it cannot be removed',
                              hint=f"Override it instead: `talkline templates edit {name}` "
                                   "writes a file of that name, which is used in its place.")
        raise ConfigError(f'no template named "{name}" in {templates_dir}',
                          hint="`talkline templates list` shows them.")
    os.remove(path)
    if builtin:
        return f'removed {path}; the built-in role "{name}" is back'
    return f"removed {path}"
