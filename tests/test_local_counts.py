"""Exact token counts for the embedded model: the counter preflight uses asks llama.cpp's
own tokenizer (the server's `/tokenize`), so its counts are the server's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from talkline.backends.local import server as local_server
from talkline.planning.preflight import Preflight
from talkline.settings import LOCAL_MODEL, Settings
from talkline.types import Message

from .localmodel import require_model

pytestmark = pytest.mark.local
MODEL_PATH = require_model()

TEXTS = ["What is the capital of France?", "Grüße aus Köln, 東京 and ☃ — 12345 tokens?!",
         "def f(x):\n    return x ** 2\n", ""]


def _server_count(text: str) -> int:
    """Ask the running server directly, as any llama.cpp client would."""
    server = local_server.running(MODEL_PATH.resolve(), None, 1)  # TALKLINE_LOCAL_THREADS
    assert server is not None, "the counter should have started the model's server"
    root = server.base_url.removesuffix("/v1")
    r = httpx.post(f"{root}/tokenize", json={"content": text},
                   headers={"Authorization": f"Bearer {server.api_key}"}, timeout=60)
    r.raise_for_status()
    return len(r.json()["tokens"])


def test_local_counts_are_the_servers(talkline_home: Path) -> None:
    settings = Settings.resolve(model=LOCAL_MODEL)
    counter = Preflight(settings).counter
    counts = [counter.count_text(t, LOCAL_MODEL) for t in TEXTS]
    assert [c.method for c in counts] == ["server"] * len(TEXTS)
    assert all(c.exact for c in counts)
    assert [c.tokens for c in counts] == [_server_count(t) for t in TEXTS]
    assert counts[0].tokens != counter.estimator(LOCAL_MODEL).estimate(TEXTS[0])

    prompt = counter.message_counts([Message("user", TEXTS[0])], LOCAL_MODEL)
    assert prompt.method == "server" and not prompt.exact  # the chat template is not counted
    assert prompt.tokens == (_server_count("user\n" + TEXTS[0]) + 4,)


def test_a_missing_gguf_is_estimated_not_installed(talkline_home: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (talkline_home / "config.toml").write_text(
        f'[models.gone]\npath = "{tmp_path / "nothing.gguf"}"\n', encoding="utf-8")
    settings = Settings.resolve(model="gone")
    assert settings.is_local_model("gone")
    count = Preflight(settings).counter.count_text("hello world", "gone")
    assert (count.exact, count.method) == (False, "estimate")
    assert not (tmp_path / "nothing.gguf").exists()
