"""The model catalog as a table (`talkline models --catalog`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..app import current_app

if TYPE_CHECKING:
    from ...planning.catalog import Catalog as Catalog
    from ..output.terminal import Terminal

COLUMNS = ["model", "context", "max out", "input", "cached", "output", "batch in",
           "batch out", "source", "read on"]


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    text = f"{value:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _int(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def print_catalog(
    as_json: bool, *, catalog: Catalog | None = None, terminal: Terminal | None = None
) -> None:
    """Print every model of the catalog (with config.toml's `[catalog]` applied)."""
    from ...planning.user_catalog import catalog_for as catalog_for
    from ...settings import Settings as Settings

    catalog = catalog or catalog_for(Settings.resolve())
    term = terminal or current_app().term
    if as_json:
        term.write_json([info.to_dict() for info in catalog])
        return
    rows = [
        {
            "model": info.name,
            "context": _int(info.context_window),
            "max out": _int(info.max_output),
            "input": _price(info.input),
            "cached": _price(info.cached_input),
            "output": _price(info.output),
            "batch in": _price(info.batch_input),
            "batch out": _price(info.batch_output),
            "source": info.source or "-",
            "read on": info.read_on or "-",
        }
        for info in catalog
    ]
    term.table(rows, COLUMNS)
    term.status(
        "Prices in USD per 1M tokens. Rows from 'recalled' are unverified: check them "
        "against OpenAI's pricing page. Override or add models under [catalog.MODEL] in "
        "config.toml."
    )
