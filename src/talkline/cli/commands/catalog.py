"""The model catalog as a table (`talkline models --catalog`), and its stale rows
(`--stale`: rows read more than `STALE_DAYS` days ago, or never, and rows whose source
says "recalled": confirmed by no source)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..app import current_app

if TYPE_CHECKING:
    from ...planning.catalog import Catalog as Catalog
    from ...planning.catalog import ModelInfo as ModelInfo
    from ..output.terminal import Terminal

COLUMNS = ["model", "context", "max in", "max out", "input", "cached", "output", "batch in",
           "batch out", "tier", "state", "read on"]
STALE_COLUMNS = ["model", "read on", "age (days)", "source"]
STALE_DAYS = 180


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    text = f"{value:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _int(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _tier(info: ModelInfo) -> str:
    return ", ".join(f">{t.above // 1000}k" for t in info.tiers) or "-"


def _state(info: ModelInfo) -> str:
    if info.retired:
        return f"retired {info.retired}"
    if info.retires:
        return f"retires {info.retires}"
    return "-"


def age_days(info: ModelInfo, today: dt.date) -> int | None:
    """Days since the row was read; None when it has no date."""
    try:
        return (today - dt.date.fromisoformat(info.read_on or "")).days
    except ValueError:
        return None


def print_catalog(
    as_json: bool, *, catalog: Catalog | None = None, terminal: Terminal | None = None,
    stale: bool = False, today: dt.date | None = None,
) -> None:
    """Print every model of the catalog (with config.toml's `[catalog]` applied); with
    `stale`, only the rows read more than 180 days ago (or never), with their age."""
    from ...planning.user_catalog import catalog_for as catalog_for
    from ...settings import Settings as Settings

    catalog = catalog or catalog_for(Settings.resolve())
    term = terminal or current_app().term
    if stale:
        _print_stale(catalog, term, as_json, today or dt.date.today())
        return
    if as_json:
        term.write_json([info.to_dict() for info in catalog])
        return
    rows = [
        {
            "model": info.name,
            "context": _int(info.context_window),
            "max in": _int(info.max_input),
            "max out": _int(info.max_output),
            "input": _price(info.input),
            "cached": _price(info.cached_input),
            "output": _price(info.output),
            "batch in": _price(info.batch_input),
            "batch out": _price(info.batch_output),
            "tier": _tier(info),
            "state": _state(info),
            "read on": info.read_on or "-",
        }
        for info in catalog
    ]
    term.table(rows, COLUMNS)
    term.status(
        "Prices in USD per 1M tokens; tier: prices for requests above that many input "
        "tokens. Each row's source is in --json; rows still 'recalled' (confirmed by no "
        "source) are listed by --stale once older than 180 days. Override or add models "
        "under [catalog.MODEL] in config.toml."
    )


def _print_stale(catalog: Catalog, term: Terminal, as_json: bool, today: dt.date) -> None:
    found: list[dict[str, Any]] = []
    for info in catalog:
        age = age_days(info, today)
        recalled = "recalled" in (info.source or "")
        if age is None or age > STALE_DAYS or recalled:
            found.append({"model": info.name, "read_on": info.read_on, "age_days": age,
                          "source": info.source, "recalled": recalled})
    if as_json:
        term.write_json(found)
        return
    if not found:
        term.status(f"No catalog row is older than {STALE_DAYS} days, and none is "
                    "recalled.")
        return
    term.table([{"model": r["model"], "read on": r["read_on"] or "-",
                 "age (days)": "-" if r["age_days"] is None else str(r["age_days"]),
                 "source": r["source"] or "-"} for r in found], STALE_COLUMNS)
    term.status(f"{len(found)} rows read more than {STALE_DAYS} days ago (or never), or "
                "recalled (confirmed by no source): check them against the sources named "
                "in data/models.toml's header.")
