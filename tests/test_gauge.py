"""The REPL's window gauge: the number format the README shows, and what it counts."""

from __future__ import annotations

import pytest

from talkline.cli.repl.gauge import format_tokens, window_gauge
from talkline.client import Client
from talkline.session.conversation import ChatSession
from talkline.settings import Settings
from talkline.store import ConversationStore
from talkline.testing import Reply

KEY = "sk-test-fake-gauge"


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (7, "7"), (999, "999"), (1000, "1k"), (1049, "1k"), (1500, "1.5k"),
     (4096, "4.1k"), (32_000, "32k"), (128_000, "128k"), (200_000, "200k"),
     (1_000_000, "1M"), (1_047_576, "1M"), (1_500_000, "1.5M")],
)
def test_format_tokens_has_no_trailing_zero_decimal(n: int, shown: str) -> None:
    assert format_tokens(n) == shown


def session_for(server, talkline_home) -> tuple[ChatSession, ConversationStore]:
    settings = Settings.resolve(api_key=KEY, base_url=server.url, model="gpt-4o-mini")
    store = ConversationStore.open(settings.paths)
    client = Client(settings=settings, sleep=lambda s: None)
    return ChatSession(client, store, model="gpt-4o-mini"), store


def counted(session: ChatSession) -> str:
    tokens = session.preflight.counter.count_messages(session.request_messages(),
                                                      session.model).tokens
    return f"{format_tokens(tokens)}/128k"


def test_after_a_reply_the_servers_count_after_undo_or_a_failure_the_history(
    server, talkline_home
) -> None:
    session, store = session_for(server, talkline_home)
    try:
        assert window_gauge(session) is None  # nothing to send yet
        server.script(Reply("a reply", usage={"prompt_tokens": 4000, "completion_tokens": 100,
                                               "total_tokens": 4100}))
        turn = session.send("hello " * 300)
        turn.until_done()
        assert window_gauge(session, turn) == "4.1k/128k"  # the server's own numbers
        first = counted(session)
        server.script(Reply("partial " * 200, chunk_size=8))
        turn = session.send("and more")
        deltas = iter(turn)
        next(deltas), next(deltas)
        deltas.close()  # what Ctrl-C does to the stream: the reply stops, marked interrupted
        assert turn.status == "interrupted"
        # The interrupted partial is not sent back, so it is not counted.
        assert "partial" not in str(session.request_messages())
        assert window_gauge(session, turn) == counted(session)
        session.undo()
        assert window_gauge(session) == first  # /undo: the dropped exchange is gone
        session.undo()
        assert window_gauge(session) is None
        session.set_model("no-such-model-anywhere")
        session.send("x").until_done()
        assert window_gauge(session) is None  # a window the catalog does not know
    finally:
        store.close()


def test_the_readme_shows_the_gauge_as_the_repl_draws_it() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{format_tokens(4100)}/{format_tokens(128_000)}>`" in readme


def test_reasoning_takes_no_room_in_the_window(server, talkline_home) -> None:
    session, store = session_for(server, talkline_home)
    try:
        server.script(Reply("short", reasoning="pondering " * 500, usage={
            "prompt_tokens": 1000, "completion_tokens": 3100, "total_tokens": 4100,
            "completion_tokens_details": {"reasoning_tokens": 3000}}))
        turn = session.send("hello")
        turn.until_done()
        assert turn.response is not None and turn.response.message.reasoning
        assert window_gauge(session, turn) == "1.1k/128k"  # 4100 less 3000 of reasoning
        assert "pondering" not in str([m.to_dict() for m in session.request_messages()])
        session.send("again").until_done()
        assert "pondering" not in str(server.chat_requests[-1].body)
    finally:
        store.close()
