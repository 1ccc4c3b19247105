"""Which inputs a model takes: a request with images, PDFs or audio for a model the catalog
says cannot take them is refused before anything is sent, naming one that can.
A model the catalog does not know (or that has no `input_kinds`) is not checked."""

from __future__ import annotations

from collections.abc import Sequence

from ..attachments import AttachmentError, kinds_of
from ..settings.defaults import LOCAL_MODEL
from ..types import Message
from .catalog import Catalog

__all__ = ["check_inputs", "needed_kinds"]

_SEE = {"image": "see images", "file": "read PDF files", "audio": "hear audio"}
# Asked first when suggesting a model: cheap, and in the shipped catalog.
_PREFERRED = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o", "gpt-5-mini", "gpt-4o-mini-audio-preview",
              "gpt-4o-audio-preview")


def needed_kinds(messages: Sequence[Message]) -> set[str]:
    """The kinds beyond text that `messages` send."""
    found: set[str] = set()
    for m in messages:
        found |= kinds_of(m.content)
    return found


def _suggest(kinds: set[str], catalog: Catalog) -> str | None:
    names = [*_PREFERRED, *(info.name for info in catalog)]
    for name in names:
        info = catalog.lookup(name)
        if info is not None and info.input_kinds is not None and all(
            info.accepts(k) for k in kinds
        ):
            return info.name
    return None


def check_inputs(messages: Sequence[Message], model: str, catalog: Catalog) -> None:
    """Refuse `messages` for `model` when the catalog says it cannot take what they hold."""
    kinds = needed_kinds(messages)
    if not kinds:
        return
    info = catalog.lookup(model)
    if info is None:
        return
    missing = sorted(k for k in kinds if not info.accepts(k))
    if not missing:
        return
    what = " or ".join(_SEE[k] for k in missing)
    takes = ", ".join(info.input_kinds or ())
    other = _suggest(kinds, catalog)
    fix = (f"Use a model that can, e.g. -m {other}, or leave the attachment out."
           if other else "Use a model that can, or leave the attachment out.")
    shown = f"{model} (the embedded model)" if info.name == LOCAL_MODEL else model
    raise AttachmentError(
        f"{shown} cannot {what} (the catalog says it takes {takes} only), so nothing was "
        f"sent. {fix}")
