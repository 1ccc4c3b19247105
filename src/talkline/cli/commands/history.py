"""`talkline history`: list, show, search, remove, export, import and title conversations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

import click

from ...settings.private import open_private
from ..app import current_app

if TYPE_CHECKING:
    from ...store import ConversationStore
    from ..output.terminal import Terminal


@contextmanager
def _store() -> Iterator[ConversationStore]:
    from ...settings import Paths as Paths
    from ...store import ConversationStore

    store = ConversationStore.open(Paths.resolve())
    try:
        yield store
    finally:
        store.close()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _money(cost: float | None) -> str:
    if not cost:
        return "-"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


@click.group()
def history() -> None:
    """Stored conversations."""


@history.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history_list(limit: int, as_json: bool) -> None:
    """Conversations, newest first."""
    import dataclasses

    term = current_app().term
    with _store() as store:
        convs = store.list_conversations(limit=limit)
    if as_json:
        term.write_json([dataclasses.asdict(c) for c in convs])
        return
    if not convs:
        term.status("No conversations yet. Start one with: talkline \"hello\"")
        return
    rows = [
        {
            "id": c.id,
            "updated": _when(c.updated),
            "model": c.model or "",
            "turns": c.turns,
            "tokens": c.prompt_tokens + c.completion_tokens,
            "cost": _money(c.cost),
            "title": (c.title or "")[:50],
        }
        for c in convs
    ]
    term.table(rows, ["id", "updated", "model", "turns", "tokens", "cost", "title"])


@history.command("show")
@click.argument("cid")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history_show(cid: str, as_json: bool) -> None:
    """Show the conversation CID (a unique prefix will do)."""
    from ...store.export import to_json, to_markdown
    term = current_app().term
    with _store() as store:
        conv = store.get_conversation(cid)
        messages = store.messages(conv.id)
    if as_json:
        term.write_json(to_json(conv, messages))
    else:
        _show_markdown(term, to_markdown(conv, messages))


def _show_markdown(term: Terminal, text: str) -> None:
    if term.rich:
        term.write_markdown(text)
    else:
        term.write_answer(text)
        term.end_answer()


@history.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history_search(query: str, limit: int, as_json: bool) -> None:
    """Full-text search over every message, newest first."""
    import dataclasses

    term = current_app().term
    with _store() as store:
        hits = store.search(query, limit=limit)
    if as_json:
        term.write_json([dataclasses.asdict(h) for h in hits])
        return
    if not hits:
        term.status(f"No messages match {query!r}.")
        return
    for h in hits:
        term.write_line(f"{h.conversation_id}  {_when(h.created)}  {h.role}  {h.title or ''}")
        term.write_line(f"    {h.snippet}")


@history.command("rm")
@click.argument("cid")
def history_rm(cid: str) -> None:
    """Delete the conversation CID and its messages."""
    with _store() as store:
        conv = store.get_conversation(cid)
        store.delete_conversation(conv.id)
    current_app().term.status(f"Deleted {conv.id}")


@history.command("title")
@click.argument("cid")
@click.argument("text")
def history_title(cid: str, text: str) -> None:
    """Set the title of CID."""
    with _store() as store:
        conv = store.get_conversation(cid)
        store.set_title(conv.id, checked_title(text))


def checked_title(text: str) -> str:
    """A title typed by the user: UTF-8, no control characters, at most MAX_TITLE
    characters; anything else is refused with what to change (nothing is stored)."""
    import unicodedata

    from ...store import MAX_TITLE
    from .prompt import argument_text

    title = argument_text(text) or ""
    bad = next((c for c in title if unicodedata.category(c) == "Cc" and c != " "), None)
    if bad is not None:
        raise click.UsageError(f"The title holds the control character U+{ord(bad):04X}: "
                               "give it as plain text.")
    if len(title) > MAX_TITLE:
        raise click.UsageError(f"The title has {len(title):,} characters; the most is "
                               f"{MAX_TITLE}. Give a shorter one.")
    if not title.strip():
        raise click.UsageError("The title is empty: give some text.")
    return title


@history.command("export")
@click.argument("cid")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "openai"]), default="md",
              show_default=True, help="openai: a `messages` array the API accepts as is.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of stdout.")
def history_export(cid: str, fmt: str, output: str | None) -> None:
    """Export the conversation CID."""
    from ...store.export import export_text

    with _store() as store:
        text = export_text(store, cid, fmt)
    if output:
        with open_private(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        current_app().term.status(f"Wrote {output}")
    else:
        current_app().term.write_text(text)


@history.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--title", help="Title for the imported conversation.")
@click.option("-m", "--model", help="Model to record for it.")
def history_import(file: IO[bytes], title: str | None, model: str | None) -> None:
    """Import FILE: an OpenAI `messages` JSON array, or a talkline JSON export."""
    from ...store.imports import MAX_IMPORT_BYTES, import_text, too_big

    source = getattr(file, "name", "input")
    data = file.read(MAX_IMPORT_BYTES + 1)  # a flood is refused before it fills the memory
    if len(data) > MAX_IMPORT_BYTES:
        raise too_big(source)
    with _store() as store:
        conv = import_text(store, data, source=source, title=title, model=model)
    current_app().term.write_line(conv.id)
