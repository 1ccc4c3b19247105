"""The summary of the turns that no longer fit the window (`--context summarize`): the one
stored for a conversation, and asking the model for a new one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..types import Message

if TYPE_CHECKING:
    from ..client import Client
    from ..planning.context import Summary
    from ..store import ConversationStore

__all__ = ["SUMMARY_INSTRUCTIONS", "stored_summary", "summarize"]

SUMMARY_INSTRUCTIONS = (
    "Summarise this earlier part of a conversation in a few short paragraphs. Keep facts, "
    "names, numbers, decisions, and open questions; leave out pleasantries."
)


def stored_summary(store: ConversationStore, conversation_id: str,
                   ids: Sequence[int | None]) -> Summary | None:
    """The latest stored summary, with how many of the history's messages (`ids`) it
    covers; None when there is none or it covers none of them."""
    stored = store.latest_summary(conversation_id)
    if stored is None:
        return None
    from ..planning.context import Summary as Summary

    covers = sum(1 for i in ids if i is not None and i <= stored.covers_up_to_message_id)
    return Summary(stored.content, covers) if covers else None


def summarize(client: Client, model: str, messages: list[Message], covers: int,
              ids: Sequence[int | None], where: tuple[ConversationStore, str] | None
              ) -> Summary:
    """Ask `model` for a summary of `messages` (the first `covers` of the history, whose
    stored ids are `ids`), and store it in `where` (store, conversation id) when given."""
    from ..planning.context import Summary as Summary

    transcript = "\n\n".join(f"{m.role}: {m.text}" for m in messages)
    reply = client.complete(
        [Message("system", SUMMARY_INSTRUCTIONS), Message("user", transcript)], model=model)
    text = reply.content.strip()
    if where is not None and 0 < covers <= len(ids):
        last_id = ids[covers - 1]
        if last_id is not None:
            store, conversation_id = where
            tokens = reply.usage.completion_tokens if reply.usage else None
            store.add_summary(conversation_id, last_id, text, model=reply.model, tokens=tokens)
    return Summary(text, covers)
