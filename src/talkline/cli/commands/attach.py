"""`-a/--attach PATH|URL|-` on the one-shot command and `chat`: read every attachment
before anything is stored or sent, so a wrong one costs nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

if TYPE_CHECKING:
    from ...attachments import Attachment

__all__ = ["STDIN_PROMPT_REFUSAL", "attach_option", "load_all"]

F = TypeVar("F", bound=Callable[..., Any])

STDIN_PROMPT_REFUSAL = (
    "-a - reads the attachment from standard input, so the prompt cannot come from there "
    "too: give the prompt as an argument, e.g. talkline -a - \"Describe this\" < cat.png")


def attach_option(f: F) -> F:
    return click.option(
        "-a", "--attach", "attach", multiple=True, metavar="PATH|URL|-",
        help="Attach a file (png, jpeg, gif, webp, pdf, wav, mp3 or UTF-8 text; the type "
             "comes from its content), an image URL (sent as the URL), or - for stdin. "
             "Repeatable.")(f)


def _stdin_bytes() -> BinaryIO | None:
    stream = sys.stdin
    if stream is None or stream.closed:
        return None
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return getattr(stream, "buffer", None)


def load_all(specs: Sequence[str], *, allow_stdin: bool = True) -> list[Attachment]:
    """The attachments `specs` name, in order, with the total checked."""
    from ...attachments import AttachmentError, check_total, load_attachment

    if specs.count("-") > 1:
        raise click.UsageError("-a - can be given once: standard input is read once.")
    if "-" in specs and not allow_stdin:
        raise AttachmentError("-a - cannot be used here: attach a file by its path.")
    out = [load_attachment(spec, stdin=_stdin_bytes() if spec == "-" else None)
           for spec in specs]
    check_total(out)
    return out
