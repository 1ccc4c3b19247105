"""`talkline serve keys`: the gateway's client keys, shown once, stored hashed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from ..app import current_app

if TYPE_CHECKING:
    from ...store import ConversationStore


@contextmanager
def _store() -> Iterator[ConversationStore]:
    from ...settings import Paths
    from ...store import ConversationStore

    store = ConversationStore.open(Paths.resolve())
    try:
        yield store
    finally:
        store.close()


def _usd(amount: float | None) -> str:
    from ...planning.costs import format_usd

    return "-" if amount is None else format_usd(amount)


def _budget(text: str | None, flag: str) -> float | None:
    """A budget option's value: USD, or `none` for no limit."""
    from ...errors import ConfigError
    from ...serve.keys import check_budget_value

    if text is None or text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not an amount in USD.",
                          hint=f"Give a number, 0 or more (for example {flag} 5), or "
                          f"{flag} none for no limit.") from None
    return check_budget_value(flag, value)


def _no_key(name: str) -> click.ClickException:
    return click.ClickException(
        f"No gateway key named {name!r}. See: talkline serve keys list")


@click.group()
def keys() -> None:
    """Keys for the gateway's clients: shown once, stored hashed, with budgets."""


@keys.command("add")
@click.argument("name")
@click.option("--daily", metavar="USD", help="Most this key may spend per UTC day.")
@click.option("--monthly", metavar="USD", help="Most this key may spend per UTC month.")
def keys_add(name: str, daily: str | None, monthly: str | None) -> None:
    """Create the key NAME and print it (once) on stdout."""
    from ...serve.keys import create_key

    day, month = _budget(daily, "--daily"), _budget(monthly, "--monthly")
    with _store() as store:
        key, token = create_key(store, name, daily=day, monthly=month)
    term = current_app().term
    budgets = ", ".join(f"{period} budget {_usd(amount)}" if amount is not None
                        else f"no {period} budget"
                        for period, amount in (("daily", key.daily_budget),
                                               ("monthly", key.monthly_budget)))
    term.status(f"Created the gateway key {key.name!r} ({budgets}). It is shown only this "
                "once and cannot be shown again (only its hash is stored): copy it now.")
    term.write_line(token)


@keys.command("list")
def keys_list() -> None:
    """Names, budgets and what each key spent today and this month (UTC); never a key."""
    from ...serve.keys import key_spending

    now = time.time()
    with _store() as store:
        rows = [key_spending(store, key, now) for key in store.gateway_keys()]
    term = current_app().term
    if not rows:
        term.status("No gateway keys yet. Create one: talkline serve keys add NAME")
        return
    table = [("NAME", "CREATED", "DAILY", "MONTHLY", "TODAY", "THIS MONTH")]
    for row in rows:
        created = dt.datetime.fromtimestamp(row.key.created, dt.timezone.utc)
        table.append((row.key.name, created.strftime("%Y-%m-%d"), _usd(row.key.daily_budget),
                      _usd(row.key.monthly_budget), _usd(row.today), _usd(row.this_month)))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        term.write_line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@keys.command("budget")
@click.argument("name")
@click.option("--daily", metavar="USD", help="The new daily budget (`none`: no limit).")
@click.option("--monthly", metavar="USD", help="The new monthly budget (`none`: no limit).")
def keys_budget(name: str, daily: str | None, monthly: str | None) -> None:
    """Change the budgets of the key NAME (an option left out stays as it is)."""
    if daily is None and monthly is None:
        raise click.UsageError("Give --daily USD, --monthly USD, or both (`none`: no limit).")
    with _store() as store:
        old = next((k for k in store.gateway_keys() if k.name == name), None)
        if old is None:
            raise _no_key(name)
        day = old.daily_budget if daily is None else _budget(daily, "--daily")
        month = old.monthly_budget if monthly is None else _budget(monthly, "--monthly")
        key = store.set_gateway_budgets(name, daily_budget=day, monthly_budget=month)
    if key is None:
        raise _no_key(name)
    current_app().term.status(f"The gateway key {name!r} now has a daily budget of "
                              f"{_usd(key.daily_budget)} and a monthly budget of "
                              f"{_usd(key.monthly_budget)}.")


@keys.command("rm")
@click.argument("name")
def keys_rm(name: str) -> None:
    """Remove the key NAME: its requests are refused at once; its conversations stay."""
    with _store() as store:
        if not store.remove_gateway_key(name):
            raise _no_key(name)
    current_app().term.status(f"Removed the gateway key {name!r}; its conversations stay "
                              "in the store.")
