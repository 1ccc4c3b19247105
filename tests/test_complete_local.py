"""Text completions offline: the embedded model (llama.cpp's own server serves
`/v1/completions`), a real generation, through the library and `talkline complete` with
no key and no network but loopback. Marked `local`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from talkline.client import AsyncClient, Client, TextStream
from talkline.types import TextCompletion

from .localmodel import require_model
from .test_local_cli import offline_cmd, offline_env

require_model()
pytestmark = pytest.mark.local

COUNT = "1, 2, 3, 4, 5,"


def test_the_embedded_model_continues_a_prompt_whole_and_streamed() -> None:
    with Client(model="local") as c:
        whole = c.complete_text(COUNT, max_tokens=6, temperature=0, echo=True)
        stream = c.complete_text(COUNT, max_tokens=6, temperature=0, stream=True,
                                 stop=["9"])
        assert isinstance(stream, TextStream)
        streamed = "".join(d.text for d in stream)
    assert isinstance(whole, TextCompletion)
    assert whole.text.startswith(COUNT) and " 6" in whole.text[len(COUNT):]
    assert whole.usage is not None and 0 < whole.usage.completion_tokens <= 6
    assert " 6" in streamed and "9" not in streamed
    assert stream.response is not None and stream.response.text == streamed


def test_the_async_twin_runs_on_the_embedded_model() -> None:
    async def go() -> TextCompletion:
        async with AsyncClient(model="local") as c:
            return await c.complete_text(COUNT, max_tokens=4, temperature=0, n=2, seed=3)

    r = asyncio.run(go())
    assert len(r.choices) == 2 and all(" 6" in c.text for c in r.choices)


def test_talkline_complete_runs_offline_with_no_key(talkline_home: Path) -> None:
    r = subprocess.run(offline_cmd("complete", COUNT, "--max-tokens", "6", "-t", "0", "-u"),
                       env=offline_env(talkline_home), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert " 6" in r.stdout
    assert "No API key configured: answering with the embedded SmolLM2-135M model" in r.stderr
    assert "free (embedded model)" in r.stderr
    db = sqlite3.connect(talkline_home / "talkline.db")
    rows = db.execute("SELECT role, content, status, completion_tokens FROM messages "
                      "ORDER BY id").fetchall()
    db.close()
    assert [(role, status) for role, _, status, _ in rows] == [("user", "complete"),
                                                              ("assistant", "complete")]
    assert rows[0][1] == COUNT and rows[1][1] and rows[1][3] > 0


def test_talkline_complete_json_offline(talkline_home: Path) -> None:
    r = subprocess.run(offline_cmd("complete", COUNT, "--max-tokens", "3", "--json", "--echo"),
                       env=offline_env(talkline_home), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["object"] == "text_completion"
    assert data["choices"][0]["text"].startswith(COUNT)
    assert data["usage"]["completion_tokens"] <= 3
