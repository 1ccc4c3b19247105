"""httpx, imported without what talkline never uses.

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

# httpcore imports trio at start-up when it is installed (~100 ms) only to support trio
# locks; talkline runs on threads and asyncio. Hide it while httpx loads, then put it back.
_hide_trio = "trio" not in sys.modules
if _hide_trio:
    sys.modules["trio"] = None  # type: ignore[assignment]
try:
    import httpcore._synchronization  # noqa: E402,F401  (where httpcore looks for trio)
    import httpx  # noqa: E402
finally:
    if _hide_trio and sys.modules.get("trio", 0) is None:
        del sys.modules["trio"]

__all__ = ["httpx"]
