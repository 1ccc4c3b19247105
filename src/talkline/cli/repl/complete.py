"""Tab completion in the REPL: the slash commands, and after `/role ` and `/template `
the names of the templates and roles (imported only on a terminal, with prompt_toolkit)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, WordCompleter
from prompt_toolkit.document import Document

__all__ = ["SlashCompleter"]


class SlashCompleter(Completer):
    def __init__(self, commands: Iterable[str], names: Iterable[str]) -> None:
        names = list(names)
        self.commands = WordCompleter(list(commands), sentence=True, match_middle=False)
        self.after = {"/role": WordCompleter(names, sentence=True),
                      "/template": WordCompleter([*names, "off"], sentence=True)}

    def get_completions(self, document: Document, complete_event: CompleteEvent
                        ) -> Iterator[Completion]:
        text = document.text_before_cursor
        head, space, rest = text.partition(" ")
        if not space:
            yield from self.commands.get_completions(document, complete_event)
            return
        words = self.after.get(head.lower())
        if words is not None and " " not in rest:
            yield from words.get_completions(Document(rest, len(rest)), complete_event)
