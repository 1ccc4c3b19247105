"""`talkline chat`: the REPL. Reading input and slash commands live here; every turn goes
through `talkline.conversation.ChatSession`, which stores it."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .options import build_settings, request_options

EXIT_WORDS = {"quit", "exit", "/quit", "/exit", ":q"}
HELP = """\
Commands:
  /help                 this list
  /system [TEXT]        show or set the system prompt
  /model [NAME]         show or switch the model
  /set NAME VALUE       set a request parameter (/set temperature 0.3); no VALUE unsets
  /params               the parameters in use
  /new                  start a new conversation
  /history              this conversation's turns
  /retry                regenerate the last reply (the old one stays, as another branch)
  /continue             ask the model to go on from a reply that was cut off
  /undo                 drop the last exchange from what is sent (kept in the store)
  /edit                 compose the next message in $EDITOR
  /save TITLE           title this conversation
  /usage                tokens and cost of this conversation
  /copy                 copy the last reply to the clipboard
  /export FILE          write the conversation (.md, .json)
  quit, exit, Ctrl-D    leave
Multi-line input: Esc then Enter for a new line, or a block between lines of \"\"\".
Ctrl-C stops a reply that is streaming; at an empty prompt, press it twice to leave."""
COMMANDS = ["/help", "/system", "/model", "/set", "/params", "/new", "/history", "/retry",
            "/continue", "/undo", "/edit", "/save", "/usage", "/copy", "/export", "/quit",
            "/exit"]


@click.command()
@request_options
@click.option("-c", "--continue", "continue_", is_flag=True,
              help="Resume the most recent conversation.")
@click.option("--cid", help="Resume the conversation with this id (a unique prefix will do).")
@click.option("--no-log", is_flag=True, help="Do not store this conversation.")
def chat(continue_: bool, cid: str | None, no_log: bool, **opts: Any) -> None:
    """Chat interactively, with memory. Every turn is stored (see `talkline history`)."""
    from ..client import Client
    from ..conversation import ChatSession
    from .repl import Repl
    from .terminal import Terminal

    settings = build_settings(opts)
    term = Terminal()
    warning = settings.insecure_key_warning()
    if warning:
        term.warn(warning)
    if settings.using_default_local:
        from .prompt import LOCAL_NOTICE

        term.status(LOCAL_NOTICE)
    store = None
    record = None
    if (continue_ or cid) and (no_log or not settings.log):
        raise click.UsageError("--continue and --cid need the conversation store; drop --no-log.")
    if not no_log and settings.log:
        from ..store import ConversationStore

        store = ConversationStore.open(settings.paths)
        if cid:
            record = store.get_conversation(cid)
        elif continue_:
            record = store.latest_conversation()
            if record is None:
                raise click.UsageError("There is no conversation to resume yet.")
    client = Client(settings=settings)
    try:
        session = ChatSession(
            client, store, record=record,
            system=opts.get("system") if record is not None else settings.system,
            model=opts.get("model"),
            params=settings.params if record is None else None,
        )
        Repl(session, term, settings).run()
    finally:
        client.close()
        if store is not None:
            store.close()
    sys.exit(0)


def env_editor() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
