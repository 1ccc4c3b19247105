"""Retired models: a request for one is refused before it is sent to OpenAI, and warned of
elsewhere. Pure: the catalog, the base URL and today's date come in.

The catalog's `retired = "YYYY-MM-DD"` is the day the provider shut the model down (the
`deprecation_date` of litellm's data, the "shutdown date" of OpenAI's deprecations page);
`retires` is a shutdown announced for a later day. On OpenAI's own API (host
api.openai.com) a retired model answers nothing but an error, so the request is refused
with the date and the successor (`RetiredModelError`, exit 2, nothing sent). Any other
server may still serve the name (a proxy, a self-hosted copy, another provider): there it
is a one-line warning, and the request goes. A shutdown within `SOON_DAYS` days is a
warning too.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from ..errors import RetiredModelError
from .catalog import Catalog, ModelInfo

__all__ = ["OPENAI_HOST", "SOON_DAYS", "check_model", "is_openai"]

OPENAI_HOST = "api.openai.com"
SOON_DAYS = 30
_WHERE = "OpenAI's deprecations page"


def is_openai(base_url: str) -> bool:
    """Whether `base_url` is OpenAI's own API."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == OPENAI_HOST


def _successor(info: ModelInfo) -> str:
    return f"use {info.successor} instead" if info.successor else "use a current model"


def check_model(model: str, base_url: str, catalog: Catalog, today: dt.date | None = None
                ) -> str | None:
    """Raise `RetiredModelError` for a model retired by `today` when `base_url` is OpenAI's;
    the warning to show (once) when it is retired but the server is another, or when its
    shutdown is near; None when there is nothing to say."""
    info = catalog.lookup(model)
    if info is None:
        return None
    today = today or dt.date.today()
    if info.retired and dt.date.fromisoformat(info.retired) <= today:
        if is_openai(base_url):
            raise RetiredModelError(
                f"{model} was retired on {info.retired} ({_WHERE}); {_successor(info)}, "
                "or a server that still serves it with --base-url. Nothing was sent.",
                hint="Pick another model with -m, or set `model` in config.toml.",
            )
        return (f"{model} was retired by OpenAI on {info.retired} ({_successor(info)}); "
                f"sending it to {base_url} anyway, which may still serve it.")
    if info.retires:
        when = dt.date.fromisoformat(info.retires)
        if when <= today and is_openai(base_url):
            raise RetiredModelError(
                f"{model} was retired on {info.retires} ({_WHERE}); {_successor(info)}, "
                "or a server that still serves it with --base-url. Nothing was sent.",
                hint="Pick another model with -m, or set `model` in config.toml.",
            )
        if when <= today:
            return (f"{model} was retired by OpenAI on {info.retires} "
                    f"({_successor(info)}); sending it to {base_url} anyway.")
        if (when - today).days <= SOON_DAYS:
            return (f"{model} will be retired on {info.retires} ({_WHERE}): "
                    f"{_successor(info)} before then.")
    return None
