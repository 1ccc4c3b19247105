"""`ChatSession.continue_reply`: the continued reply takes the partial one's place (in the
store and without one), and a failed continuation puts the partial back."""

from __future__ import annotations

import pytest

from talkline.client import Client
from talkline.errors import TalklineError
from talkline.session.conversation import CONTINUE_PROMPT, ChatSession
from talkline.settings import Settings
from talkline.store import ConversationStore
from talkline.testing import Error, Reply

KEY = "sk-test-fake-continue"


def client_for(server) -> Client:
    settings = Settings.resolve(api_key=KEY, base_url=server.url, retries=0)
    return Client(settings=settings, sleep=lambda s: None)


def roles_and_text(body: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


@pytest.mark.parametrize("stored", [True, False])
def test_continued_reply_is_sent_once_with_the_joined_text(server, stored):
    server.script(Reply("Part one", finish_reason="length"), Reply(" and part two."))
    client = client_for(server)
    store = ConversationStore.open(client.settings.paths) if stored else None
    try:
        session = ChatSession(client, store)
        session.send("two parts please").until_done()
        turn = session.continue_reply()
        turn.until_done()
        assert turn.prefix + turn.text == "Part one and part two."
        assert roles_and_text(server.chat_requests[-1].body) == [
            ("user", "two parts please"), ("assistant", "Part one"),
            ("user", CONTINUE_PROMPT),
        ]
        session.send("and now?").until_done()
        assert roles_and_text(server.chat_requests[-1].body) == [
            ("user", "two parts please"),
            ("assistant", "Part one and part two."),
            ("user", "and now?"),
        ]
        if store is not None:
            assert [(m.role, m.content) for m in session.stored_messages()] == [
                ("user", "two parts please"), ("assistant", "Part one and part two."),
                ("user", "and now?"), ("assistant", "Echo: and now?"),
            ]
    finally:
        client.close()
        if store is not None:
            store.close()


def test_a_failed_continuation_puts_the_partial_reply_back(server):
    server.script(Reply("Part one", finish_reason="length"),
                  Error(400, "bad request", type="invalid_request_error"))
    client = client_for(server)
    store = ConversationStore.open(client.settings.paths)
    try:
        session = ChatSession(client, store)
        session.send("two parts please").until_done()
        with pytest.raises(TalklineError):
            session.continue_reply().until_done()
        assert [(m.role, m.content) for m in session.stored_messages()] == [
            ("user", "two parts please"), ("assistant", "Part one"),
        ]
        session.send("again").until_done()
        assert roles_and_text(server.chat_requests[-1].body)[1] == ("assistant", "Part one")
    finally:
        client.close()
        store.close()
