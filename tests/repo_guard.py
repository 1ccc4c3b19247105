"""The suite reads nothing beside the repository: a runtime guard on every file the tests open.

`OutsideReadGuard.install()` adds an audit hook (`sys.addaudithook`) that sees every "open"
event of the test process and records each path that lies in the repository's parent folder
but outside the repository (such as a folder of notes beside the clone, which a clone
elsewhere does not have). The interpreter, its site-packages and the temp dir are exempt, as
are system folders, unless one of them holds the repository itself. tests/conftest.py
installs the guard for the session and fails the test (or the collection) during which such
a file was opened.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

_SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/run",
           "/opt", "/var/lib", "/var/cache", "/nix", "/System", "/Library")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class OutsideReadGuard:
    """Records the files opened beside `repo` (under its parent folder, outside it)."""

    def __init__(self, repo: Path = REPO) -> None:
        self.repo = os.path.realpath(repo)
        self.watched = os.path.dirname(self.repo)
        exempt = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), *_SYSTEM}
        exempt.update(sysconfig.get_paths().values())
        exempt.update(getattr(site, "getsitepackages", list)())
        exempt.add(site.getusersitepackages())
        exempt = {os.path.realpath(p) for p in exempt if p} | {p for p in exempt if p}
        # An exempt folder that holds the repository (a clone in the temp dir) would hide
        # the very folder watched; it exempts nothing then.
        self.exempt = tuple(sorted(p for p in exempt if not _inside(self.repo, p)))
        self.recorded: list[str] = []
        self._installed = False

    def forbidden(self, path: str | bytes | os.PathLike[Any]) -> bool:
        """True when opening `path` reads from beside the repository."""
        text = os.path.abspath(os.fsdecode(path))
        for candidate in (text, os.path.realpath(text)):
            if (
                _inside(candidate, self.watched)
                and not _inside(candidate, self.repo)
                and not any(_inside(candidate, e) for e in self.exempt)
            ):
                return True
        return False

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not args or isinstance(args[0], int) or args[0] is None:
            return
        try:
            if self.forbidden(args[0]):
                self.recorded.append(os.path.abspath(os.fsdecode(args[0])))
        except (TypeError, ValueError, OSError):
            pass

    def install(self) -> None:
        """Start recording; an audit hook cannot be removed, so this happens once."""
        if not self._installed:
            sys.addaudithook(self._hook)
            self._installed = True

    def take(self) -> list[str]:
        """The paths recorded since the last call (each once, in order)."""
        paths, self.recorded = list(dict.fromkeys(self.recorded)), []
        return paths

    def message(self, paths: list[str]) -> str:
        listed = "".join(f"\n  {p}" for p in paths)
        return (
            f"read outside the repository ({self.repo}):{listed}\n"
            "The suite must carry what it needs: copy the file into the repository (e.g. "
            "under tests/) and read it from there."
        )


GUARD = OutsideReadGuard()
