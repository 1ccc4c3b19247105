"""Conversations in: the one reader for what `talkline history import` accepts.

- talkline's JSON (`"format": "talkline.conversation", "version": 4`, see `export.py`):
  every field, every branch and every attachment (its hash checked) is kept;
- the two older talkline shapes, so older exports still import: `{"talkline_export": 1,
  "conversation": {...}, "messages": [...]}` and `{"format": "talkline.conversation/1",
  "title": ..., "messages": [...]}` (the conversation's fields at the top level);
- an OpenAI `messages` array, or an object with a `messages` key: role, content, name,
  tool_calls and tool_call_id are kept, replies marked as not complete are left out.

Errors are `ConfigError`s that name what is wrong and where (`import_checks`); the file
must be UTF-8 and nest at most `wire.jsonload.MAX_DEPTH` deep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..types.text import clean_value
from ..wire.jsonload import TooDeep, loads
from .export import EXPORT_FORMAT, EXPORT_VERSION
from .import_checks import check_blobs, check_conversation, check_message

if TYPE_CHECKING:
    from ..attachments import Blob
    from ._models import Conversation
    from ._store import ConversationStore

__all__ = ["MAX_IMPORT_BYTES", "Imported", "import_text", "read_export", "too_big"]

# The most one import reads: a conversation with its attachments (50 MB a message) fits;
# a file past it is refused before it is parsed, so a flood cannot take the memory.
MAX_IMPORT_BYTES = 128 * 1024 * 1024

_OPENAI_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id")
_LEGACY_FORMAT = "talkline.conversation/1"


@dataclass(frozen=True)
class Imported:
    """What a file holds, ready for `ConversationStore.import_messages`."""

    messages: list[dict[str, Any]]
    title: str | None = None
    model: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    head: int | None = None  # the exported id of the active branch's tip
    version: int | None = None  # talkline's format version; None for an OpenAI array
    blobs: dict[str, Blob] = field(default_factory=dict)  # attachments' bytes, by SHA-256


def too_big(source: str) -> ConfigError:
    """The refusal of a file over MAX_IMPORT_BYTES."""
    return ConfigError(
        f"{source} is over {MAX_IMPORT_BYTES // (1024 * 1024)} MiB, the most one import "
        "reads; nothing was imported.",
        hint="Check that this is a conversation export (`talkline history export ID "
             "--format json`); an export that large holds big attachments: remove them "
             "from it and import it again.")


def _loads(data: str | bytes, source: str) -> Any:
    """The JSON in `data`: UTF-8, at most MAX_IMPORT_BYTES, nested at most MAX_DEPTH deep
    (both checked before it is parsed), lone surrogates replaced like everywhere else."""
    if len(data) > MAX_IMPORT_BYTES:
        raise too_big(source)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{source} is not UTF-8: byte {exc.start} (0x{data[exc.start]:02x}) cannot be "
                "decoded; nothing was imported.",
                hint="Convert it first, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
            ) from None
    try:
        return clean_value(loads(data))
    except TooDeep as exc:
        raise ConfigError(f"{source} cannot be imported: {exc}; nothing was imported.",
                          hint="A conversation export nests a few levels deep: check that "
                               "this is the file you meant.") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        raise ConfigError(f"{source} is not valid JSON (line {line}): {exc}") from None


def _conversation(data: dict[str, Any], source: str) -> tuple[dict[str, Any], int] | None:
    """(the conversation's fields, the format version) of a talkline export, else None."""
    if data.get("format") == EXPORT_FORMAT:
        version = data.get("version")
        if type(version) is not int or version < 1:
            raise ConfigError(
                f"{source} is a talkline export with no valid version (got {version!r}): "
                f'export it again with `talkline history export ID --format json`.'
            )
        if version > EXPORT_VERSION:
            raise ConfigError(
                f"{source} was written by a newer talkline (export version {version}; this "
                f"one reads up to {EXPORT_VERSION}): upgrade talkline to import it."
            )
        conv = data.get("conversation")
        return (conv if isinstance(conv, dict) else {}), version
    if data.get("format") == _LEGACY_FORMAT:
        return {k: v for k, v in data.items() if k not in ("format", "messages")}, 1
    if data.get("talkline_export") == 1 and isinstance(data.get("conversation"), dict):
        return data["conversation"], 1
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_export(text: str | bytes, *, source: str = "input") -> Imported:
    """The messages and conversation fields `text` holds, in any shape listed above."""
    data = _loads(text, source)
    found = _conversation(data, source) if isinstance(data, dict) else None
    items = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"{source} holds no messages: expected a JSON array of messages "
            '([{"role": "user", "content": "..."}]) or a talkline export.'
        )
    for i, item in enumerate(items):
        check_message(item, i, source)
    if found is not None:
        conv, version = found
        check_conversation(conv, source)
        params = conv.get("params")
        head = conv.get("head_message_id")
        blobs = check_blobs(data.get("blobs") if isinstance(data, dict) else None, items,
                            source)
        return Imported(
            messages=[dict(m) for m in items],
            title=_text(conv.get("title")),
            model=_text(conv.get("model")),
            system=_text(conv.get("system")),
            params=params if isinstance(params, dict) else {},
            head=head if type(head) is int else None,
            version=version,
            blobs=blobs,
        )
    messages = []
    for item in items:
        if item.get("role") == "assistant" and item.get("status") not in (None, "complete"):
            continue
        keep = {k: item[k] for k in _OPENAI_FIELDS if item.get(k) is not None}
        keep.setdefault("content", "")
        messages.append(keep)
    return Imported(messages=messages)


def import_text(
    store: ConversationStore,
    text: str | bytes,
    *,
    source: str = "input",
    title: str | None = None,
    model: str | None = None,
) -> Conversation:
    """A new conversation from `text` (see `read_export`); `title` and `model`, when
    given, replace the file's."""
    got = read_export(text, source=source)
    return store.import_messages(
        got.messages,
        title=title or got.title,
        model=model or got.model,
        system=got.system,
        params=got.params or None,
        head=got.head,
        blobs=list(got.blobs.values()),
    )
