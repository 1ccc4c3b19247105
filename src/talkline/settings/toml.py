"""The one TOML loader: config.toml and the shipped model catalog are read through it.

A file that cannot be read, is not UTF-8 or is not valid TOML is a `ConfigError` naming
the file (and the line, for a syntax error).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config_file", "load_toml"]

_CONFIG_HINT = "Fix that line (TOML syntax), or run `talkline config path` to find the file."


def load_toml(path: Path, *, missing_ok: bool = False, what: str = "TOML file",
              hint: str | None = None) -> dict[str, Any]:
    """Parse the TOML file at `path`; `{}` for a missing file when `missing_ok`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"Cannot read {path}: it does not exist") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 7)"; lift the line to the front.
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        if line is None:
            m = re.search(r"line (\d+)", msg)
            line = int(m.group(1)) if m else None
        where = f"{path}, line {line}" if line else str(path)
        raise ConfigError(f"Malformed {what} {where}: {msg}", hint=hint) from None
    return data


def load_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml (`{}` when there is none); a syntax error names the file and the
    line."""
    return load_toml(path, missing_ok=True, what="config file", hint=_CONFIG_HINT)
