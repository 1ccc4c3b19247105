"""Files that hold prompts or answers are the user's alone: created 0600, whatever the umask.

`open_private` is `open` for such a file: a new file is created with mode 0600 and an
existing regular file is set to 0600 before anything is written to it (a device or a pipe
such as `/dev/stdout` is left as it is).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

__all__ = ["PRIVATE_MODE", "open_private"]

PRIVATE_MODE = 0o600

_FLAGS = {
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "a+": os.O_RDWR | os.O_CREAT | os.O_APPEND,
    "w+": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
}


def private_fd(path: str | os.PathLike[str], flags: int) -> int:
    """`os.open(path, flags)` with a new file created 0600 and an existing regular file
    set to 0600."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) != PRIVATE_MODE:
            os.fchmod(fd, PRIVATE_MODE)
    except OSError:
        pass  # a file of another owner keeps its mode; writing is what matters
    return fd


def open_private(path: str | os.PathLike[str] | Path, mode: str = "w", **kwargs: Any
                 ) -> IO[Any]:
    """`open(path, mode, **kwargs)` for a file that holds prompts or answers; `mode` is
    one of w, a, a+, w+, each optionally with b."""
    flags = _FLAGS[mode.replace("b", "")] | getattr(os, "O_BINARY", 0)
    return os.fdopen(private_fd(path, flags), mode, **kwargs)
