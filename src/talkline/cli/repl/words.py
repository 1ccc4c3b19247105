"""The REPL's words: its slash commands, their help, what leaves, and what it refuses."""

from __future__ import annotations

import os

__all__ = ["COMMANDS", "EXIT_WORDS", "HELP", "env_editor", "several_choices_refusal"]

EXIT_WORDS = {"quit", "exit", "/quit", "/exit", ":q"}
HELP = """\
Commands:
  /help                 this list
  /system [TEXT]        show or set the system prompt
  /model [NAME]         show or switch the model
  /set NAME VALUE       set a request parameter (/set temperature 0.3); no VALUE unsets
  /schema [SCHEMA]      answer as JSON of that shape (/schema 'name, age int'); alone: stop
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
  /attach [PATH|URL]    attach a file to the next message; alone, list them; clear drops
  /tools                the tools loaded with --functions
  /role [NAME]          switch the system prompt to a role's; alone, list the roles
  /template [NAME|off]  apply a template (system, model, parameters, schema, prompt)
  quit, exit, Ctrl-D    leave
Multi-line input: Esc then Enter for a new line, or a block between lines of \"\"\".
Ctrl-C stops a reply that is streaming; at an empty prompt, press it twice to leave.
What you type while a reply streams waits in the next prompt."""
COMMANDS = ["/help", "/system", "/model", "/set", "/params", "/schema", "/new", "/history",
            "/retry", "/continue", "/undo", "/edit", "/save", "/usage", "/copy", "/export",
            "/attach", "/tools", "/role", "/template", "/quit", "/exit"]


def several_choices_refusal(what: str) -> str:
    """Why the REPL takes no `n` above 1, and what to use instead."""
    count = what.split()[-1]
    return (f"{what}: a chat continues one reply; use the one-shot command "
            f'(talkline -n {count} "...") for several choices.')


def env_editor() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
