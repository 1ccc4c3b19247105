"""Every exchange through the gateway, stored as the CLI stores a turn: a conversation
with the client's messages and the reply (its status, tokens, cost, latency), labelled
with the client key's name so `talkline history` and `talkline usage` show it.

A gateway is stateless: each request brings its whole conversation, so each is stored as
its own conversation. Writes run in a worker thread, one at a time, off the event loop;
a store that cannot write (a full disk) costs the log line, never the client's answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio

from ..errors import TalklineError
from ..planning.costs import cost_of
from ..session._replies import response_fields
from ..settings import LOCAL_MODEL, Paths
from ..store import ConversationStore
from ..types import ChatResponse, Message

__all__ = ["Exchange", "Recorder"]

log = logging.getLogger("talkline.serve")


@dataclass(frozen=True)
class Exchange:
    """One request and what came of it: the reply, or the error with the partial text."""

    client: str
    model: str
    messages: tuple[Message, ...]
    params: dict[str, Any]
    response: ChatResponse | None = None
    status: str = "complete"  # complete, interrupted, error
    error: str | None = None
    partial: str = ""
    # The conversation the request continues (the web page's `x-talkline-conversation`):
    # its earlier messages are stored already, so only the new question and the reply are
    # added; None: the exchange is a conversation of its own.
    conversation_id: str | None = None


def write(store: ConversationStore, ex: Exchange) -> str:
    """Store `ex`; returns the conversation's id."""
    system = next((m.text for m in ex.messages if m.role in ("system", "developer")), None)
    if ex.conversation_id is not None:
        cid = ex.conversation_id
        new: list[Message] = [ex.messages[-1]] if ex.messages and ex.messages[-1].role in (
            "user", "tool") else []
    else:
        cid = store.create_conversation(model=ex.model, system=system, params=ex.params).id
        store.set_conversation_client(cid, ex.client)
        new = [m for m in ex.messages if m.role not in ("system", "developer")]
    for m in new:
        extra: dict[str, Any] = {}
        if m.tool_calls:
            extra["tool_calls"] = [c.to_dict() for c in m.tool_calls]
        if m.tool_call_id:
            extra["tool_call_id"] = m.tool_call_id
        store.append_message(cid, m.role, m.content, **extra)
    fields: dict[str, Any] = {"requested_model": ex.model}
    resp = ex.response
    if resp is not None:
        fields.update(response_fields(resp))
        usage = resp.total_usage
        priced = ex.model if ex.model == LOCAL_MODEL else resp.model or ex.model
        cost = cost_of(priced, usage) if usage is not None else None
        if cost is not None:
            fields["cost"], fields["cost_estimated"] = cost.amount, cost.estimated
    else:
        fields.update(content=ex.partial, error=ex.error)
    content = fields.pop("content", "")
    store.append_message(cid, "assistant", content, status=ex.status, **fields)
    return cid


class Recorder:
    """The gateway's one store, written off the event loop, one write at a time."""

    def __init__(self, paths: Paths | None) -> None:
        """`paths`: where the user's database is (None: nothing is stored)."""
        self._store = ConversationStore.open(paths) if paths is not None else None
        self._one = anyio.CapacityLimiter(1)

    async def record(self, ex: Exchange) -> None:
        store = self._store
        if store is None:
            return
        try:
            await anyio.to_thread.run_sync(write, store, ex, limiter=self._one)
        except TalklineError as exc:
            log.warning("an exchange of %s was not stored (%s)", ex.client, type(exc).__name__)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
