"""Where talkline's files live.

`TALKLINE_HOME` holds everything (config.toml, keys.json, talkline.db) when set;
otherwise the platform's user config and data directories are used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths"]


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def keys_file(self) -> Path:
        return self.config_dir / "keys.json"

    @property
    def templates_dir(self) -> Path:
        """Templates and roles, one `NAME.toml` each (`talkline templates`)."""
        return self.config_dir / "templates"

    @property
    def database(self) -> Path:
        return self.data_dir / "talkline.db"

    @property
    def input_history(self) -> Path:
        return self.data_dir / "input-history"

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get("TALKLINE_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root, root)
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir("talkline", appauthor=False)),
            Path(platformdirs.user_data_dir("talkline", appauthor=False)),
        )

    def ensure_private_dir(self, path: Path) -> Path:
        """Create a directory readable by the user only (0700), with its missing parents.
        Only folders created here get that mode: an existing folder (a `TALKLINE_HOME`
        the user made) keeps the mode it has."""
        missing: list[Path] = []
        here = path
        while not here.exists() and here != here.parent:
            missing.append(here)
            here = here.parent
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            try:
                folder.chmod(0o700)  # mkdir's mode is filtered by the umask
            except OSError:
                pass
        return path
