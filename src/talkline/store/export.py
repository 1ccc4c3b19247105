"""Conversations out: Markdown, talkline's JSON and the OpenAI `messages` array.

`export_text(store, id, fmt)` is the one dispatch, used by `talkline history export` and
the REPL's `/export`. talkline's JSON has one shape (`to_json`), read back by
`talkline.store.imports.read_export` together with the older shapes:

```json
{"format": "talkline.conversation", "version": 4,
 "conversation": {"id": "...", "title": "...", "model": "...", "system": "...",
                  "params": {}, "head_message_id": 3, "turns": 1, ...},
 "messages": [{"id": 1, "parent_id": null, "role": "user", "content": "...",
               "status": "complete", "tool_calls": [], "tool_call_id": null,
               "model": null, "prompt_tokens": null, "cost": null, ...}, ...]}
```

`messages` holds every message, other branches included, oldest first; `parent_id` links
each to the one it answers and `head_message_id` names the tip of the active branch.

Version 3 adds attachments: a message's `content` parts name their bytes by SHA-256
(`{"type": "image_url", "blob": "1a2b…", "name": "cat.png", "mime": "image/png", ...}`),
and `"blobs": {"1a2b…": {"mime": "image/png", "size": 34567, "data": BASE64}}` holds each
one once. The reader checks every hash. Versions 1 and 2 (no blobs) still import.

Version 4 adds a reply's `reasoning` (its reasoning text, kept apart from `content`; null
when the model sent none), and, for Responses API replies, `reasoning_items` (the
encrypted reasoning sent back on the next turn) and `response_id`. Version 3 files,
which have none, still import. The Markdown
export shows it as a `thinking:` quote before the answer; the OpenAI array leaves it out
(it is never sent back as an answer).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..attachments import describe
from ..errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..attachments import Blob
    from ..types import Message
    from ._models import Conversation, StoredMessage
    from ._store import ConversationStore

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "FORMATS",
    "blob_hashes",
    "export_text",
    "format_for_path",
    "thinking_quote",
    "to_json",
    "to_markdown",
    "to_openai",
]

FORMATS = ("md", "json", "openai")
EXPORT_FORMAT = "talkline.conversation"
EXPORT_VERSION = 4

_HEADINGS = {"user": "User", "assistant": "Assistant", "tool": "Tool",
             "system": "System", "developer": "Developer"}


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def to_openai(conv: Conversation, messages: Sequence[StoredMessage],
              expand: Callable[[StoredMessage], Message] | None = None
              ) -> list[dict[str, Any]]:
    """A `messages` array the API accepts as is: the system prompt first, then every
    complete turn of the active branch (replies that did not complete are left out).
    `expand` (`ConversationStore.expand`) puts attachments' bytes back in."""
    out: list[dict[str, Any]] = []
    if conv.system:
        out.append({"role": "system", "content": conv.system})
    for m in messages:
        if m.role == "assistant" and m.status != "complete":
            continue
        out.append((expand(m) if expand else m.to_message()).to_dict())
    return out


def to_json(conv: Conversation, messages: Sequence[StoredMessage],
            blobs: Mapping[str, Blob] | None = None) -> dict[str, Any]:
    """Everything we know, for `history import` and for other tools: pass every message
    (`ConversationStore.all_messages`) to keep the other branches too, and the blobs
    their attachments name (without them the export names attachments it does not hold)."""
    out: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "conversation": conv.to_dict(),
        "messages": [m.to_dict() for m in messages],
    }
    if blobs:
        out["blobs"] = {sha: {"mime": b.mime, "size": len(b.data),
                              "data": base64.b64encode(b.data).decode("ascii")}
                        for sha, b in sorted(blobs.items())}
    return out


def blob_hashes(messages: Sequence[StoredMessage]) -> list[str]:
    """The SHA-256s the messages' attachments name."""
    from ..attachments import is_stored

    return [str(p["blob"]) for m in messages for p in (m.parts or ()) if is_stored(p)]


def thinking_quote(reasoning: str | None) -> list[str]:
    """A reply's reasoning as the Markdown lines of a quote marked `thinking:` (none when
    there is no reasoning)."""
    if not reasoning:
        return []
    return ["> thinking:", ">", *(f"> {t}".rstrip() for t in reasoning.splitlines()), ""]


def to_markdown(conv: Conversation, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# {conv.title or 'Conversation'}", ""]
    meta = f"`{conv.id}` · {_when(conv.created)}"
    if conv.model:
        meta += f" · {conv.model}"
    lines += [meta, ""]
    if conv.system:
        lines += ["## System", "", conv.system, ""]
    for m in messages:
        heading = _HEADINGS.get(m.role, m.role)
        if m.role == "assistant" and m.model:
            heading += f" ({m.model})"
        if m.status != "complete":
            heading += f" [{m.status}]"
        lines += [f"## {heading}", ""]
        lines += thinking_quote(m.reasoning)
        if m.content or not m.tool_calls:
            lines += [m.content or "", ""]
        shown = [d for d in map(describe, m.parts or ()) if d]
        lines += [*shown, ""] if shown else []
        lines += [f"- tool call: `{tc.name}({tc.arguments})`" for tc in m.tool_calls]
        lines += [""] if m.tool_calls else []
    return "\n".join(lines).rstrip() + "\n"


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def export_text(store: ConversationStore, conversation_id: str, fmt: str) -> str:
    """The conversation (an id or a unique prefix) as text in one of `FORMATS`: md and
    openai show the active branch, json keeps every message."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    conv = store.get_conversation(conversation_id)
    if fmt == "json":
        messages = store.all_messages(conv.id)
        return _dumps(to_json(conv, messages, store.blobs(blob_hashes(messages))))
    path = store.messages(conv.id)
    return to_markdown(conv, path) if fmt == "md" else _dumps(
        to_openai(conv, path, store.expand))


def format_for_path(path: str) -> str:
    """The format a file name asks for: `.json` is talkline's JSON, anything else Markdown."""
    return "json" if path.lower().endswith(".json") else "md"
