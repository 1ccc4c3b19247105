"""The catalog's facts at work: gpt-5's 272k input cap fitted, the batch cached price, the
price tier above 272k input tokens, a retired model refused before sending (and warned of
elsewhere), `models --catalog --stale`."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from talkline.errors import RetiredModelError
from talkline.planning.catalog import Catalog, default_catalog
from talkline.planning.costs import cost_of
from talkline.planning.lifecycle import check_model
from talkline.planning.preflight import Preflight
from talkline.settings import Settings
from talkline.testing import ScriptedServer
from talkline.types import ChatParams, Message, Usage

from .clihelp import run

KEY = "sk-test-fake-catalog-1234"


def test_gpt5_prompt_is_cut_to_its_272k_input_cap() -> None:
    turn = "word " * 59_000  # ~59k tokens a message: 6 of them fit 400k, not 272k
    messages = [Message(role="user" if i % 2 == 0 else "assistant", content=turn)
                for i in range(5)] + [Message(role="user", content="the newest question")]
    prepared = Preflight(Settings.resolve()).prepare(messages, "gpt-5",
                                                     ChatParams(model="gpt-5"), budget=False)
    assert prepared.fit is not None and prepared.fit.dropped > 0
    assert prepared.fit.prompt_tokens <= 272_000
    assert prepared.messages[-1].content == "the newest question"


def test_batch_cached_tokens_use_batch_cached_input() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0, total_tokens=1_000_000,
                  cached_tokens=1_000_000)
    cost = cost_of("gpt-5-mini", usage, batch=True)
    assert cost is not None and cost.cached_input == pytest.approx(0.0125)
    assert cost_of("gpt-5", usage, batch=True).cached_input == pytest.approx(0.0625)  # type: ignore[union-attr]


def test_a_request_above_272k_input_tokens_is_priced_at_the_tier() -> None:
    usage = Usage(prompt_tokens=300_000, completion_tokens=1_000, total_tokens=301_000)
    cost = cost_of("gpt-5.4", usage)
    assert cost is not None
    assert cost.input == pytest.approx(300_000 * 5.0 / 1e6)
    assert cost.output == pytest.approx(1_000 * 22.5 / 1e6)
    below = cost_of("gpt-5.4", Usage(prompt_tokens=200_000, completion_tokens=0,
                                     total_tokens=200_000))
    assert below is not None and below.input == pytest.approx(200_000 * 2.5 / 1e6)


def test_tiers_take_other_thresholds() -> None:
    catalog = Catalog.load({"m": {"input": 1, "output": 2,
                                  "tiers": [{"above": 128000, "input": 3, "output": 4}]}})
    cost = cost_of("m", Usage(prompt_tokens=128_001, completion_tokens=0,
                              total_tokens=128_001), catalog=catalog)
    assert cost is not None and cost.input == pytest.approx(128_001 * 3 / 1e6)


def test_a_wrong_retired_date_is_a_clear_error() -> None:
    from talkline.errors import ConfigError

    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        Catalog.load({"gpt-4o": {"retired": "soon"}})


def test_retired_model_refused_for_openai_warned_elsewhere() -> None:
    with pytest.raises(RetiredModelError) as err:
        check_model("gpt-4.5-preview", "https://api.openai.com/v1", default_catalog())
    assert "retired on 2025-07-14" in err.value.message
    assert "use gpt-4.1 instead" in err.value.message and "--base-url" in err.value.message
    warning = check_model("gpt-4.5-preview", "http://127.0.0.1:9/v1", default_catalog())
    assert warning is not None and "2025-07-14" in warning
    soon = check_model("gpt-5", "https://api.openai.com/v1", default_catalog(),
                       today=dt.date(2026, 12, 1))
    assert soon is not None and "will be retired on 2026-12-11" in soon


def test_cli_refuses_a_retired_model_before_sending(server: ScriptedServer,
                                                    talkline_home) -> None:
    # Were anything sent to api.openai.com, it would go through this loopback proxy.
    env = {"OPENAI_API_KEY": KEY, "HTTPS_PROXY": server.url, "https_proxy": server.url,
           "NO_PROXY": "", "no_proxy": ""}
    r = run("-m", "gpt-4.5-preview", "hello", env=env)
    assert r.code == 2, r.err
    assert "gpt-4.5-preview was retired on 2025-07-14" in r.err
    assert "use gpt-4.1 instead" in r.err and "--base-url" in r.err
    assert "Traceback" not in r.err
    assert server.requests == []
    # What was typed is kept, with the refusal on the reply, as a budget refusal is.
    (db,) = talkline_home.rglob("*.db")
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT role, content, status, error FROM messages "
                           "ORDER BY id").fetchall()
    assert rows[0][:2] == ("user", "hello")
    assert rows[1][0] == "assistant" and rows[1][2] == "error"
    assert "retired on 2025-07-14" in (rows[1][3] or "")


def test_cli_warns_and_sends_elsewhere(server: ScriptedServer) -> None:
    r = run("-m", "gpt-4.5-preview", "hello",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert r.err.count("gpt-4.5-preview was retired by OpenAI on 2025-07-14") == 1
    assert len(server.chat_requests) == 1


def test_models_catalog_stale_lists_old_rows(talkline_home) -> None:
    # A row of config.toml read long ago is listed with its age; the shipped rows are
    # listed exactly when they are over 180 days old today (no date pinned: the test holds
    # as the calendar moves, and a real stale row shows up in it).
    (talkline_home / "config.toml").write_text(
        '[catalog.old-model]\ninput = 1.0\noutput = 2.0\nsource = "a page"\n'
        'read_on = "2025-01-01"\n', encoding="utf-8")
    r = run("models", "--catalog", "--stale", "--json")
    assert r.code == 0, r.err
    rows = {row["model"]: row for row in json.loads(r.out)}
    today = dt.date.today()
    assert rows["old-model"]["age_days"] == (today - dt.date(2025, 1, 1)).days
    expected = {m.name for m in default_catalog()
                if m.read_on is None or (today - dt.date.fromisoformat(m.read_on)).days > 180
                or "recalled" in (m.source or "")}
    assert set(rows) - {"old-model"} == expected
    # A row confirmed by no source is listed whatever its date: its facts need a check.
    assert {"o1-preview", "gpt-4-32k"} <= expected and rows["o1-preview"]["recalled"]
    for row in rows.values():
        assert row["recalled"] or row["age_days"] is None or row["age_days"] > 180
    r = run("models", "--catalog", "--stale")
    assert r.code == 0 and "old-model" in r.out and "180 days" in r.err
    r = run("models", "--stale")
    assert r.code == 2 and "use it with --catalog" in r.err
