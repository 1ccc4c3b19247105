"""A scripted OpenAI-compatible server for tests and benchmarks (standard library only).

>>> from talkline.testing import ScriptedServer, Reply, Error, Fault
>>> with ScriptedServer() as srv:
...     srv.script(Reply("Hi!"), Error.rate_limit(retry_after_ms=20), Fault.cut_after(2))
...     base_url = srv.url
"""

from __future__ import annotations

from ._actions import Action, Error, Fault, Reply
from ._ratelimit import go_duration
from .server import RecordedRequest, ScriptedServer

__all__ = [
    "Action",
    "Error",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "go_duration",
]
