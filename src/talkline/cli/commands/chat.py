"""`talkline chat`: the REPL. Reading input and slash commands live here; every turn goes
through `talkline.conversation.ChatSession`, which stores it."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import click

from .options import (
    announce,
    build_settings,
    given_now,
    open_conversation,
    progress_callbacks,
    request_options,
    resolve_for,
    system_replaced_notice,
)

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
  /copy                 copy the last reply to the clipboard (or through the terminal)
  /export FILE          write the conversation (.md, .json)
  quit, exit, Ctrl-D    leave
Multi-line input: Esc then Enter for a new line, or a block between lines of \"\"\".
Ctrl-C stops a reply that is streaming; at an empty prompt, press it twice to leave.
What you type while a reply streams waits in the next prompt."""
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
    from ...client import Client
    from ...session.conversation import ChatSession as ChatSession
    from ..output.terminal import Terminal as Terminal
    from ..repl.loop import Repl as Repl

    given_n = given_now(opts).params.n
    if given_n is not None and given_n > 1:
        raise click.UsageError(several_choices_refusal(f"-n {given_n}"))
    settings = build_settings(opts)
    term = Terminal()
    announce(settings, term)
    store, record = open_conversation(settings, continue_=continue_, cid=cid, no_log=no_log)
    request = resolve_for(opts, record, settings)
    if (request.params.n or 1) > 1:  # stored by a one-shot `-n`, or set in config.toml
        term.status(f"n = {request.params.n} is not used here: a chat continues one reply.")
        request = dataclasses.replace(request, params=dataclasses.replace(request.params, n=None))
    notice = system_replaced_notice(request)
    if notice:
        term.status(notice)
    client = Client(settings=settings, **progress_callbacks(term))
    try:
        session = ChatSession(client, store, record=record, request=request)
        Repl(session, term, settings).run()
    finally:
        client.close()
        if store is not None:
            store.close()
    sys.exit(0)


def several_choices_refusal(what: str) -> str:
    """Why the REPL takes no `n` above 1, and what to use instead."""
    count = what.split()[-1]
    return (f"{what}: a chat continues one reply; use the one-shot command "
            f'(talkline -n {count} "...") for several choices.')


def env_editor() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
