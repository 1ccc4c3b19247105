"""Windows, summaries, budgets and costs end to end: ChatSession, the store and the CLI
against the scripted server."""

from __future__ import annotations

import json
import sqlite3

import pytest

from talkline.client import Client
from talkline.errors import BudgetExceededError
from talkline.planning.tokens import TokenCounter
from talkline.session.conversation import SUMMARY_INSTRUCTIONS, ChatSession
from talkline.settings import Settings
from talkline.store import ConversationStore
from talkline.testing import Error, Reply
from talkline.types import Message

from .clihelp import run

KEY = "sk-test-fake-context"
TINY = "gpt-4o-tiny"  # an o200k model name, so counts are exact
WINDOW = 3000
MAX_OUT = 300


def write_config(home, extra: str = "") -> None:
    (home / "config.toml").write_text(
        f'[catalog."{TINY}"]\ncontext_window = {WINDOW}\nmax_output = {MAX_OUT}\n'
        "input = 1.0\noutput = 2.0\n" + extra
    )


def session_for(server, strategy: str) -> tuple[ChatSession, ConversationStore]:
    settings = Settings.resolve(api_key=KEY, base_url=server.url, model=TINY,
                                system="You are the keeper of a very long conversation.",
                                context_strategy=strategy)
    store = ConversationStore.open(settings.paths)
    client = Client(settings=settings, sleep=lambda s: None)
    return ChatSession(client, store, system=settings.system, model=TINY), store


def tokens_sent(body: dict) -> int:
    msgs = [Message.from_dict(m) for m in body["messages"]]
    return TokenCounter().count_messages(msgs, TINY).tokens


def turn_text(i: int) -> str:
    return f"Turn {i}: " + " ".join(f"word{i}x{j}" for j in range(25))


def test_300_turns_never_overflow_and_keep_the_system_prompt(server, talkline_home):
    write_config(talkline_home)
    session, store = session_for(server, "truncate")
    try:
        for i in range(300):
            session.send(turn_text(i)).until_done()
    finally:
        store.close()
    bodies = [r.body for r in server.chat_requests]
    assert len(bodies) == 300
    for body in bodies:
        limit = body.get("max_tokens") or 0
        assert tokens_sent(body) + limit <= WINDOW
        assert body["messages"][0] == {
            "role": "system", "content": "You are the keeper of a very long conversation."}
        assert body["messages"][-1]["role"] == "user"
    assert bodies[-1]["messages"][-1]["content"] == turn_text(299)
    # Truncation really happened: the last request does not carry the first turn.
    assert all(turn_text(0) != m["content"] for m in bodies[-1]["messages"])


def test_the_input_cap_inside_the_window_bounds_every_body_sent(server, talkline_home):
    """`max_input` (gpt-5's 272k inside its 400k window, here a small one): the fitter
    holds every prompt sent under the cap, not just under window minus output."""
    write_config(talkline_home, "max_input = 1200\n")
    session, store = session_for(server, "truncate")
    try:
        for i in range(40):
            session.send(turn_text(i)).until_done()
    finally:
        store.close()
    sent = [tokens_sent(r.body) for r in server.chat_requests]
    assert max(sent) <= 1200
    assert max(sent) > 1200 - 250  # filled to within a turn of the cap (the window, 2700)
    last = server.chat_requests[-1].body["messages"]
    assert last[0]["role"] == "system" and last[-1]["content"] == turn_text(39)


def test_summarize_sends_the_stored_summary_and_reuses_it(server, talkline_home):
    write_config(talkline_home)

    def answer(body):
        if body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS:
            return Reply("SUMMARY: the user counted words for a long time.")
        return Reply("ok")

    server.default = answer
    session, store = session_for(server, "summarize")
    try:
        for i in range(120):
            session.send(turn_text(i)).until_done()
        cid = session.id
    finally:
        store.close()
    chats = [r.body for r in server.chat_requests
             if r.body["messages"][0]["content"] != SUMMARY_INSTRUCTIONS]
    summaries = [r for r in server.chat_requests
                 if r.body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS]
    assert summaries, "no summary was ever asked for"
    assert len(summaries) < 40  # reused until more turns fall out, not made every turn
    for body in chats:
        assert tokens_sent(body) + (body.get("max_tokens") or 0) <= WINDOW
    last = chats[-1]["messages"]
    assert last[0]["content"].startswith("You are the keeper")
    assert any("SUMMARY: the user counted words" in m["content"] for m in last
               if m["role"] == "system")
    db = sqlite3.connect(talkline_home / "talkline.db")
    stored = db.execute("SELECT count(*) FROM summaries WHERE conversation_id=?",
                        (cid,)).fetchone()[0]
    db.close()
    assert stored == len(summaries)


def test_error_strategy_refuses_with_how_many_over(server, talkline_home):
    write_config(talkline_home)
    session, store = session_for(server, "error")
    try:
        with pytest.raises(Exception) as info:
            session.send("word " * 4000).until_done()
    finally:
        store.close()
    from talkline.errors import ContextLengthExceededError

    assert isinstance(info.value, ContextLengthExceededError)
    assert "1,278 tokens more than gpt-4o-tiny's context window of 3,000" in str(info.value)
    assert server.chat_requests == []


def test_server_refusal_is_trimmed_and_sent_once_more(server, talkline_home):
    write_config(talkline_home)
    session, store = session_for(server, "truncate")
    try:
        for i in range(6):
            session.send(turn_text(i)).until_done()
        server.script(Error.context_length(limit=700, got=1400), Reply("fits now"))
        turn = session.send("the last question")
        assert turn.until_done().content == "fits now"
    finally:
        store.close()
    refused, accepted = server.chat_requests[-2].body, server.chat_requests[-1].body
    assert len(accepted["messages"]) < len(refused["messages"])
    assert accepted["messages"][-1]["content"] == "the last question"
    assert any("refused the prompt as too long" in n for n in turn.notices)


def test_budget_refuses_before_sending(server, talkline_home):
    (talkline_home / "config.toml").write_text("daily_budget = 1.00\n")
    settings = Settings.resolve(api_key=KEY, base_url=server.url)
    store = ConversationStore.open(settings.paths)
    conv = store.create_conversation(model="gpt-4o")
    store.append_message(conv.id, "user", "earlier")
    store.append_message(conv.id, "assistant", "earlier answer", model="gpt-4o", cost=0.99)
    store.close()
    r = run("-m", "gpt-4o", "--max-tokens", "4000", "an expensive question",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 1
    assert "only $0.01" in r.err and "daily budget ($1.00)" in r.err
    assert "Nothing was sent" in r.err
    assert server.chat_requests == []
    # The question itself is kept.
    db = sqlite3.connect(talkline_home / "talkline.db")
    kept = db.execute("SELECT count(*) FROM messages WHERE content='an expensive question'")
    assert kept.fetchone()[0] == 1
    db.close()
    # A cheap request still fits in what is left.
    r = run("-m", "gpt-4o-mini", "--max-tokens", "50", "a cheap question",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err


def test_per_command_budget_flag(server):
    r = run("--budget", "0.0001", "-m", "gpt-4o", "--max-tokens", "1000", "hi",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 1 and "--budget" in r.err
    assert server.chat_requests == []


def test_usage_flag_shows_cost_and_usage_report(server):
    server.script(Reply("fine", usage={"prompt_tokens": 1000, "completion_tokens": 500,
                                       "total_tokens": 1500}))
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    r = run("-u", "-m", "gpt-4o-mini", "hi", env=env)
    assert r.code == 0, r.err
    # 1000 x 0.15/1M + 500 x 0.60/1M = 0.00045
    assert "1000 prompt + 500 completion = 1500 tokens, $0.00045" in r.err
    r = run("usage", "--json", env=env)
    data = json.loads(r.out)
    assert data["total"]["requests"] == 1
    assert data["total"]["cost"] == pytest.approx(0.00045)
    assert data["by_model"]["gpt-4o-mini"]["prompt_tokens"] == 1000
    r = run("usage", env=env)
    assert r.code == 0 and "█" in r.out and "gpt-4o-mini" in r.out


def test_reply_without_usage_gets_an_estimated_cost(server, talkline_home):
    server.script(Reply("an answer of a few words", usage="omit"))
    r = run("-m", "gpt-4o-mini", "hi", env={"OPENAI_API_KEY": KEY,
                                             "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    db = sqlite3.connect(talkline_home / "talkline.db")
    cost, estimated = db.execute(
        "SELECT cost, cost_estimated FROM messages WHERE role='assistant'").fetchone()
    db.close()
    assert cost > 0 and estimated == 1


def test_models_catalog_and_tokens_commands(server):
    r = run("models", "--catalog", "--json")
    assert r.code == 0, r.err
    names = {m["name"] for m in json.loads(r.out)} if isinstance(json.loads(r.out), list) \
        else set(json.loads(r.out))
    assert "gpt-4o-mini" in names
    r = run("tokens", "-m", "gpt-4o", input="hello world")
    assert r.code == 0 and r.out.strip() == "2"


def test_budget_error_class_is_exported():
    assert issubclass(BudgetExceededError, Exception)
