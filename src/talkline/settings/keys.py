"""API keys by name in `keys.json`, a file with mode 0600. Values are never printed.

A key is checked once, where it is read (`clean_key`): surrounding whitespace and newlines
are stripped, control characters and non-ASCII refused with a message that does not show
it. Writes take an exclusive lock (fcntl) around read-modify-write and replace the file
atomically from a unique temporary file, so concurrent `keys set` lose nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .paths import Paths

__all__ = ["KeyStore", "clean_key"]

_log = logging.getLogger("talkline.settings")


def _log_warning(text: str) -> None:
    _log.warning("%s", text)


def clean_key(value: str, source: str, *, hint: str | None = None) -> str:
    """`value` without surrounding whitespace; ConfigError (never showing the key) when
    it holds a control character or a character that is not ASCII. `source` names where
    it came from ("OPENAI_API_KEY", "--key", "the key file ... (openai)")."""
    key = value.strip()
    for i, ch in enumerate(key):
        if ch.isascii() and ch.isprintable():
            continue
        what = "a control character" if ch.isascii() or not ch.isprintable() \
            else "a character that is not ASCII"
        raise ConfigError(
            f"The API key from {source} holds {what} (at position {i + 1} of {len(key)}); "
            "it was not used and is not shown.",
            hint=hint or "Copy the key again, without extra characters, and set it with: "
            "talkline keys set openai",
        )
    return key


class KeyStore:
    """API keys by name in a JSON file with mode 0600. Values are never printed.
    `on_warning`: where the warning about a file readable by others goes (default: the
    `talkline.settings` logger, on stderr when nothing else is configured)."""

    def __init__(self, paths: Paths, *, on_warning: Callable[[str], None] | None = None
                 ) -> None:
        self.paths = paths
        self.path = paths.keys_file
        self._on_warning = on_warning or _log_warning

    def _fix_mode(self) -> None:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except OSError:
            return
        if not mode & 0o077:
            return
        try:
            os.chmod(self.path, 0o600)
            done = "talkline changed it to 0600 (owner only)"
        except OSError as exc:
            done = f"talkline could not change it ({exc.strerror}): run chmod 600 {self.path}"
        self._on_warning(f"Warning: the key file {self.path} was readable by others "
                         f"(mode {mode:04o}); {done}.")

    def _load(self) -> dict[str, Any]:
        self._fix_mode()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"Cannot read the key file {self.path}: {exc.strerror}",
                              hint=f"Check its permissions (chmod 600 {self.path}).") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"The key file {self.path} is not UTF-8 text (a bad byte at offset "
                f"{exc.start}).",
                hint="Fix it in an editor, or delete it and run: talkline keys set openai",
            ) from None
        try:
            data = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise ConfigError(
                f"The key file {self.path} is not valid JSON (line {_line(exc)})",
                hint="Fix or delete it, then run: talkline keys set openai",
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"The key file {self.path} must hold a JSON object",
                              hint="Fix or delete it, then run: talkline keys set openai")
        return data

    def get(self, name: str) -> str | None:
        data = self._load()
        if name not in data:
            return None
        value = data[name]
        fix = f"Set it again with: talkline keys set {name}"
        if not isinstance(value, str):
            shown = "null" if value is None else type(value).__name__
            raise ConfigError(f"The key {name!r} in {self.path} is {shown}, not a string.",
                              hint=fix)
        return clean_key(value, f"the key file {self.path} ({name})", hint=fix) or None

    def names(self) -> list[str]:
        return sorted(str(k) for k in self._load())

    def set(self, name: str, value: str) -> None:
        if not name or any(c.isspace() for c in name) or not name.isprintable():
            raise ConfigError(f"A key name must be one word, got {name!r}",
                              hint="For example: talkline keys set openai")
        value = clean_key(value, "the input", hint=f"Enter the key again: talkline keys "
                          f"set {name}; nothing was stored.")
        if not value:
            raise ConfigError("The key is empty; nothing was stored.",
                              hint=f"Enter the key: talkline keys set {name}")
        with self._locked():
            data = self._load()
            data[name] = value
            self._write(data)

    def remove(self, name: str) -> bool:
        with self._locked():
            data = self._load()
            if name not in data:
                return False
            del data[name]
            self._write(data)
            return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on `keys.json.lock` beside the file, for read-modify-write."""
        folder = self.path.parent
        try:
            self.paths.ensure_private_dir(folder)
            fd = os.open(folder / (self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _write_error(folder, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, data: dict[str, Any]) -> None:
        folder = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keys.", suffix=".tmp")
        except OSError as exc:
            raise _write_error(folder, exc) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), 0o600)
                json.dump(data, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _write_error(folder, exc) from None
        _fsync_dir(folder)


def _write_error(folder: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"Cannot write the key file in {folder}: {exc.strerror}; nothing was changed.",
        hint=f"Make the folder writable (chmod u+w {folder}) or set TALKLINE_HOME to a "
        "folder you own.",
    )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _line(exc: BaseException) -> int:
    return int(getattr(exc, "lineno", 0) or 0)
