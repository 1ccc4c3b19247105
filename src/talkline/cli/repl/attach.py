"""`/attach PATH` in the REPL: files waiting for the next message.

`/attach PATH|URL` adds one (read and checked now), `/attach` alone lists them,
`/attach clear` drops them (a file named `clear` is `./clear`). They go with the next
message and are then stored with it; when the model refuses them before anything is
stored (it cannot see images), they stay for the next try.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...attachments import AttachmentError, check_total, format_size, load_attachment

if TYPE_CHECKING:
    from ...attachments import Attachment

__all__ = ["Pending"]


def _line(a: Attachment) -> str:
    if a.url is not None:
        return f"  image: {a.url}"
    return f"  {a.kind}: {a.name}, {a.mime}, {format_size(a.size)}"


class Pending:
    """The attachments for the next message."""

    def __init__(self, first: list[Attachment] | None = None) -> None:
        self.items: list[Attachment] = list(first or [])

    def command(self, arg: str) -> list[str]:
        """What `/attach ARG` says."""
        if not arg:
            if not self.items:
                return ["No attachments waiting. /attach PATH adds one to the next message."]
            return [f"{len(self.items)} attachment(s) go with the next message "
                    "(/attach clear drops them):", *map(_line, self.items)]
        if arg == "clear":
            n, self.items = len(self.items), []
            return [f"Dropped {n} attachment(s)." if n else "No attachments waiting."]
        if arg == "-":
            raise AttachmentError("/attach - cannot read standard input in a chat: attach "
                                  "the file by its path.")
        found = load_attachment(arg)
        check_total([*self.items, found])
        self.items.append(found)
        return [f"Attached {found.url or found.name} ({found.kind}"
                f"{'' if found.url else ', ' + format_size(found.size)}) to the next message."]

    def take(self) -> list[Attachment]:
        return list(self.items)

    def sent(self) -> None:
        self.items = []
