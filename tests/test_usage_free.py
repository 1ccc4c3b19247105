"""Replies by the embedded model are free: priced under the name they were asked for
(`local`), not the GGUF file name they answer with, and `talkline usage` says so."""

from __future__ import annotations

import json

from talkline.backends.remote import RemoteBackend
from talkline.client import Client
from talkline.planning.report import build_report
from talkline.session.conversation import ChatSession
from talkline.settings import Settings
from talkline.store import ConversationStore
from talkline.testing import Reply

from .clihelp import run

GGUF = "SmolLM2-135M-Instruct.Q4_1"
KEY = "sk-test-fake-free"


class EmbeddedOverHTTP(Client):
    """The embedded model's part played by the scripted server: same answers (named
    after the GGUF file), over a real socket, so the test needs no llama.cpp."""

    def backend_for(self, model: str) -> RemoteBackend:
        return RemoteBackend(self.settings.base_url, KEY)


def test_an_embedded_reply_is_stored_free_and_reported_free(server, talkline_home):
    server.script(Reply("Paris.", model=GGUF, usage={"prompt_tokens": 20,
                                                      "completion_tokens": 3,
                                                      "total_tokens": 23}))
    settings = Settings.resolve(model="local", base_url=server.url)
    store = ConversationStore.open(settings.paths)
    client = EmbeddedOverHTTP(settings=settings)
    try:
        session = ChatSession(client, store, model="local")
        turn = session.send("Capital of France?")
        turn.until_done()
        assert turn.cost is not None and turn.cost.amount == 0
        reply = session.stored_messages()[-1]
        assert (reply.model, reply.requested_model, reply.cost) == (GGUF, "local", 0.0)
        report = build_report(store.usage_rows(), is_local=settings.is_local_model)
        assert (report.total.free, report.total.unpriced) == (1, 0)
    finally:
        client.close()
        store.close()

    r = run("usage", env={})
    assert r.code == 0, r.err
    assert "free (embedded model)" in r.out and "no known price" not in r.out
    data = json.loads(run("usage", "--json", env={}).out)
    assert data["total"]["free"] == 1 and data["total"]["unpriced"] == 0


def test_replies_stored_before_this_fix_count_as_free_too(talkline_home):
    settings = Settings.resolve()
    with ConversationStore.open(settings.paths) as store:
        conv = store.create_conversation(model="local")
        store.append_message(conv.id, "user", "hi")
        store.append_message(conv.id, "assistant", "hello", model=GGUF,
                             requested_model="local", prompt_tokens=5, completion_tokens=2)
        other = store.create_conversation(model="llama3.2")
        store.append_message(other.id, "user", "hi")
        store.append_message(other.id, "assistant", "hello", model="llama3.2",
                             requested_model="llama3.2", prompt_tokens=5, completion_tokens=2)
    r = run("usage", env={})
    assert r.code == 0, r.err
    assert "; 1 replies free (embedded model); 1 replies had no known price" in r.out
    lines = {line.split()[0]: line for line in r.out.splitlines() if line.strip()}
    assert "free (embedded model)" in lines[GGUF]


def test_the_usage_line_of_an_embedded_reply_says_free():
    from talkline.cli.commands.prompt import usage_line
    from talkline.types import ChatResponse, Usage

    response = ChatResponse(id="x", model=GGUF, choices=(),
                            usage=Usage(prompt_tokens=20, completion_tokens=3, total_tokens=23))
    assert usage_line(response, None, free=True) == (
        f"usage: 20 prompt + 3 completion = 23 tokens, free (embedded model) ({GGUF})"
    )
