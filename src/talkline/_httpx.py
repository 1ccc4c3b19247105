"""httpx, imported without its optional command line.

httpx's `__init__` imports `httpx._main` (its CLI: click, rich, pygments) whenever those are
installed, and talkline's users always have them. That costs ~60 ms on every start and
would pull the terminal libraries into the library. A stand-in module is registered first,
unless httpx is already loaded; httpx's own CLI is unaffected outside talkline's process.
"""

from __future__ import annotations

import sys
import types

if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    _stub = types.ModuleType("httpx._main")

    def _main(*args: object, **kwargs: object) -> None:
        raise SystemExit("httpx's command line is not loaded in this process (talkline)")

    _stub.main = _main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = _stub

import httpx  # noqa: E402

__all__ = ["httpx"]
