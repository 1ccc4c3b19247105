"""Gateway keys: minted, named, hashed, found, listed with what each spent.

A token is `tlg-` and 32 random bytes (URL-safe base64). Only its SHA-256 is stored: a
token of that entropy cannot be guessed back from its hash, so a slow password hash would
add nothing but latency to every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from dataclasses import dataclass

from ..errors import ConfigError
from ..store import ConversationStore, GatewayKey

__all__ = [
    "OWNER",
    "PREFIX",
    "GatewayKey",
    "KeySpending",
    "check_budget_value",
    "check_name",
    "create_key",
    "find_key",
    "hash_token",
    "key_spending",
    "month_period",
    "day_period",
]

PREFIX = "tlg-"
OWNER = GatewayKey(id="owner", name="owner", daily_budget=None, monthly_budget=None,
                   created=0.0)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED = {"owner"}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """`name` if it may name a key, else a ConfigError saying what a name may be."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} cannot name a gateway key.",
            hint="Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            "a digit, for example: talkline serve keys add alice",
        )
    if name.lower() in _RESERVED:
        raise ConfigError(
            f"{name!r} is reserved for the gateway's owner (`talkline serve --no-auth`).",
            hint="Choose another name, for example: talkline serve keys add alice",
        )
    return name


def check_budget_value(flag: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{flag} {value:g} is not a budget.",
            hint=f"Give an amount in USD, 0 or more, for example {flag} 5",
        )
    return float(value)


def create_key(store: ConversationStore, name: str, *, daily: float | None = None,
               monthly: float | None = None) -> tuple[GatewayKey, str]:
    """A new key and its token (the only time the token exists outside the client)."""
    check_name(name)
    daily = check_budget_value("--daily", daily)
    monthly = check_budget_value("--monthly", monthly)
    token = PREFIX + secrets.token_urlsafe(32)
    key = store.add_gateway_key(name, hash_token(token), daily_budget=daily,
                                monthly_budget=monthly)
    return key, token


def find_key(store: ConversationStore, token: str) -> GatewayKey | None:
    """The key `token` is, or None."""
    if not token or len(token) > 512:
        return None
    return store.gateway_key_by_hash(hash_token(token))


def day_period(now: float) -> tuple[float, float]:
    """The UTC day holding `now`: its start and the next day's."""
    d = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    start = d.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def month_period(now: float) -> tuple[float, float]:
    """The UTC month holding `now`: its start and the next month's."""
    d = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    start = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(year=start.year + 1, month=1) if start.month == 12
                 else start.replace(month=start.month + 1))
    return start.timestamp(), following.timestamp()


@dataclass(frozen=True)
class KeySpending:
    key: GatewayKey
    today: float
    this_month: float


def key_spending(store: ConversationStore, key: GatewayKey, now: float) -> KeySpending:
    """What `key` spent in the UTC day and month holding `now`."""
    day, _ = day_period(now)
    month, _ = month_period(now)
    return KeySpending(key, store.spent_between(day, client=key.name),
                       store.spent_between(month, client=key.name))
