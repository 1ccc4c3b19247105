"""API keys by name in `keys.json`, a file with mode 0600. Values are never printed."""

from __future__ import annotations

import json
import os

from ..errors import ConfigError
from .paths import Paths

__all__ = ["KeyStore"]


class KeyStore:
    """API keys by name in a JSON file with mode 0600. Values are never printed."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.path = paths.keys_file

    def _load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"Cannot read the key file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ConfigError(
                f"The key file {self.path} is not valid JSON (line {_line(exc)})",
                hint="Fix or delete it, then run: talkline keys set openai",
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"The key file {self.path} must hold a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def names(self) -> list[str]:
        return sorted(self._load())

    def set(self, name: str, value: str) -> None:
        value = value.strip()
        if not value:
            raise ConfigError("The key is empty; nothing was stored.")
        if not name or any(c.isspace() for c in name) or not name.isprintable():
            raise ConfigError(f"A key name must be one word, got {name!r}",
                              hint="For example: talkline keys set openai")
        data = self._load()
        data[name] = value
        self._write(data)

    def remove(self, name: str) -> bool:
        data = self._load()
        if name not in data:
            return False
        del data[name]
        self._write(data)
        return True

    def _write(self, data: dict[str, str]) -> None:
        self.paths.ensure_private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


def _line(exc: ValueError) -> int:
    return int(getattr(exc, "lineno", 0) or 0)
