"""`Client` and `AsyncClient`: one request, with retries, rate limits and fallbacks.

Both wrap a backend's single attempt (`talkline.backends`) and mirror each other line for
line (`_sync.py`, `_async.py`), differing only in `await` and how they sleep. What they
share has no I/O: the settings, the one typed request, the rate-limiter bookkeeping
(`_core.Core`) and the loop of a call, fallbacks and retries, written once as a plan of
steps that both drive (`_plan.plan`). The retry decisions are `talkline.retry`'s.
"""

from __future__ import annotations

from ._async import AsyncClient
from ._core import FallbackEvent
from ._streams import AsyncChatStream, ChatStream
from ._sync import Client
from ._text import AsyncTextStream, TextStream

__all__ = ["AsyncChatStream", "AsyncClient", "AsyncTextStream", "ChatStream", "Client",
           "FallbackEvent", "TextStream"]
