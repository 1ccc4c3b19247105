"""The embedded model served by name through the real `talkline serve`: `local`, through
the client core's local backend, to the official SDK."""

from __future__ import annotations

import openai
import pytest

from .gatewayhelp import CLIENT_KEY, gateway
from .localmodel import require_model

require_model()
pytestmark = pytest.mark.local


def test_local_is_served_whole_and_streamed_with_no_upstream_configured():
    with gateway(None, "--no-auth", timeout=60) as gw, openai.OpenAI(
            base_url=gw.url, api_key=CLIENT_KEY, max_retries=0, timeout=120) as client:
        ids = [m.id for m in client.models.list()]
        whole = client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
        chunks = list(client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8,
            stream=True))
    assert "local" in ids
    assert whole.choices[0].message.content
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert gw.code == 0, gw.stderr
