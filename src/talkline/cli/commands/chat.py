"""`talkline chat`: the REPL (`talkline.cli.repl`). This module only parses the flags and
opens the conversation; every turn goes through `talkline.session.ChatSession`."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from ..app import App, pass_app, system_replaced_notice
from .attach import attach_option, load_all
from .options import (
    reasoning_option,
    request_options,
    schema_options,
    template_options,
    tool_options,
)


@click.command()
@request_options
@schema_options
@click.option("-c", "--continue", "continue_", is_flag=True,
              help="Resume the most recent conversation.")
@click.option("--cid", help="Resume the conversation with this id (a unique prefix will do).")
@click.option("--no-log", is_flag=True, help="Do not store this conversation.")
@attach_option
@tool_options
@template_options
@reasoning_option
@pass_app
def chat(app: App, /, continue_: bool, cid: str | None, no_log: bool,
         attach: tuple[str, ...] = (), hide_reasoning: bool = False, **opts: Any) -> None:
    """Chat interactively, with memory. Every turn is stored (see `talkline history`)."""
    from ...templates.render import wraps_input
    from ..repl.loop import Repl
    from ..repl.words import several_choices_refusal

    flags = app.use_flags(opts)
    given_n = flags.given.params.n
    if given_n is not None and given_n > 1:
        raise click.UsageError(several_choices_refusal(f"-n {given_n}"))
    attachments = load_all(attach, allow_stdin=False)  # for the first message
    term = app.term
    from ..functions import session_tools

    tools, _ = session_tools(term, app.tool_opts(opts))
    if hide_reasoning:
        app.use_settings(app.settings.replace(hide_reasoning=True))
    app.announce()
    store, record = app.open_conversation(continue_=continue_, cid=cid, no_log=no_log)
    request = app.request(record)
    if (request.params.n or 1) > 1:  # stored by a one-shot `-n`, or set in config.toml
        term.status(f"n = {request.params.n} is not used here: a chat continues one reply.")
        request = dataclasses.replace(request, params=dataclasses.replace(request.params, n=None))
    notice = system_replaced_notice(request)
    if notice:
        term.status(notice)
    if flags.schema_notice:
        term.warn(flags.schema_notice)
    with app.session(request, store, record, tools) as session:
        repl = Repl(session, term, app.settings, attachments)
        if app.template is not None and wraps_input(app.template.template):
            repl.templates.wrap = app.template  # each message goes into its prompt
        elif app.template is not None and app.template.template.prompt is not None:
            term.warn(f'template "{app.template.template.name}": its prompt has no $input, '
                      "so it is not used in a chat (add $input where each message goes)")
        repl.run()
    sys.exit(0)
