"""What each setting may hold, checked where it enters.

`check_file` refuses a bad value in config.toml with a message naming the file and the
key; `check_value` holds the resolved settings (flags, environment) to the same rules, so
each rule (the retries range, a timeout above 0, a URL without control characters) is
written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from .defaults import APIS, CONTEXT_STRATEGIES, MAX_RETRIES, MIN_RETRIES

__all__ = ["SETTINGS", "TABLES", "check_file", "check_value"]

Rule = Callable[[object], "str | None"]  # what the value must be, or None when it is fine

TABLES = ("params", "models", "catalog", "servers")


def _finite(value: object) -> float | None:
    """The value as a finite number, or None (for text, booleans, nan and infinities)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _seconds(value: object) -> str | None:
    number = _finite(value)
    if number is not None and number > 0:
        return None
    return "must be a number of seconds above 0 (for example 30)"


def _rate(value: object) -> str | None:
    number = _finite(value)
    if number is not None and number > 0:
        return None
    return "must be a number above 0 (leave it out when you do not know the limit)"


def _usd(value: object) -> str | None:
    number = _finite(value)
    if number is not None and number >= 0:
        return None
    return "must be an amount in USD, 0 or more (for example 5)"


def _retries(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and (
        MIN_RETRIES <= value <= MAX_RETRIES
    ):
        return None
    return f"must be a whole number from {MIN_RETRIES} to {MAX_RETRIES}"


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else "must be text in quotes"


def _model(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable():
        return None
    return 'must be a model name in quotes, such as "gpt-4o-mini"'


def _key_name(value: object) -> str | None:
    if isinstance(value, str) and value and not any(c.isspace() for c in value) and (
        value.isprintable()
    ):
        return None
    return 'must be one word in quotes, a name from `talkline keys list` such as "openai"'


def _flag(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _names(value: object) -> str | None:
    if isinstance(value, (list, tuple)) and all(_model(v) is None for v in value):
        return None
    return 'must be a list of model names, such as ["gpt-4o", "gpt-4o-mini"]'


def _strategy(value: object) -> str | None:
    if value in CONTEXT_STRATEGIES:
        return None
    return f"must be one of {', '.join(CONTEXT_STRATEGIES)}"


def _api(value: object) -> str | None:
    if value in APIS:
        return None
    return f"must be one of {', '.join(APIS)} (the endpoint requests go to)"


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a URL in quotes, such as \"http://localhost:11434/v1\""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "must start with http:// or https://"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must start with http:// or https://"
    return None


def _positive_whole(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return None
    return "must be a positive whole number"


SETTINGS: dict[str, Rule] = {
    "model": _model,
    "base_url": _url,
    "system": _text,
    "retries": _retries,
    "idle_timeout": _seconds,
    "connect_timeout": _seconds,
    "timeout": _seconds,
    "deadline": _seconds,
    "max_event_bytes": _positive_whole,
    "max_body_bytes": _positive_whole,
    "max_stdin_bytes": _positive_whole,
    "fallbacks": _names,
    "log": _flag,
    "hide_reasoning": _flag,
    "rpm": _rate,
    "tpm": _rate,
    "key_name": _key_name,
    "daily_budget": _usd,
    "monthly_budget": _usd,
    "budget": _usd,  # --budget only; not a config.toml key
    "context_strategy": _strategy,
    "api": _api,
}
_FLAG_ONLY = {"budget"}
def _env_name(value: object) -> str | None:
    if isinstance(value, str) and value and (value.replace("_", "a").isalnum()) and (
        not value[0].isdigit()
    ):
        return None
    return 'must be the name of an environment variable in quotes, such as "GROQ_API_KEY"'


# `[servers.NAME]`: an upstream of `talkline serve` (see talkline.serve.upstreams).
SERVER_RULES: dict[str, Rule] = {
    "base_url": _url,
    "key_env": _env_name,
    "key_name": _key_name,
    "models": _names,
}
_LOCAL_RULES: dict[str, Rule] = {
    "path": _text,
    "n_ctx": _positive_whole,
    "n_threads": _positive_whole,
    "chat_format": _text,
}


_EXAMPLES = {  # the flag that sets each value, when one does
    "base_url": "For example: --base-url http://localhost:11434/v1 (or OPENAI_BASE_URL)",
    "retries": "For example: --retries 2",
    "idle_timeout": "For example: --idle-timeout 30",
    "deadline": "For example: --deadline 600",
    "budget": "For example: --budget 0.50",
    "api": "For example: --api chat (or TALKLINE_API=chat, or api = \"chat\" in config.toml)",
}


def check_value(name: str, value: object) -> None:
    """Refuse a resolved setting that breaks its rule (`None` means not set)."""
    if value is None:
        return
    problem = SETTINGS[name](value)
    if problem is not None:
        label = "base URL" if name == "base_url" else name.replace("_", " ")
        raise ConfigError(f"{label} {problem}, got {value!r}", hint=_EXAMPLES.get(name))


def _fix(key: str, path: Path) -> str:
    return f"Fix or remove {key} in {path}."


def check_file(values: Mapping[str, object], path: Path) -> None:
    """Refuse config.toml when a key is unknown or a value breaks its rule."""
    known = [k for k in SETTINGS if k not in _FLAG_ONLY]
    for name, value in values.items():
        if name in TABLES:
            _check_table(name, value, path)
            continue
        rule = SETTINGS.get(name) if name not in _FLAG_ONLY else None
        if rule is None:
            raise ConfigError(
                f"Unknown setting {name!r} in {path}",
                hint=f"Known settings: {', '.join(sorted(known))}, "
                "and the tables [params], [models.NAME], [catalog.MODEL], [servers.NAME].",
            )
        problem = rule(value)
        if problem is not None:
            raise ConfigError(f"{name} in {path} {problem}, got {value!r}",
                              hint=_fix(name, path))


def _check_table(name: str, value: object, path: Path) -> None:
    if not isinstance(value, dict):
        what = {"params": "request parameters such as temperature = 0.7",
                "models": "[models.NAME] tables", "catalog": "[catalog.MODEL] tables",
                "servers": "[servers.NAME] tables"}[name]
        raise ConfigError(f"[{name}] in {path} must be a table of {what}, got {value!r}",
                          hint=_fix(f"[{name}]", path))
    if name == "params":
        return  # request parameters are checked by `params_from_mapping`
    for entry, spec in value.items():
        where = f"[{name}.{entry}] in {path}"
        if not isinstance(spec, dict):
            fields = {"models": "path = \"/path/to/model.gguf\"",
                      "servers": "base_url, key_env or key_name, models"}.get(
                name, "context_window, input, output, ...")
            raise ConfigError(f"{where} must be a table of model fields ({fields}), "
                              f"got {spec!r}", hint=_fix(f"[{name}.{entry}]", path))
        if name == "servers":
            _check_server(where, entry, spec, path)
        if name == "models":
            for key, rule in _LOCAL_RULES.items():
                problem = rule(spec[key]) if key in spec else None
                if problem is not None:
                    raise ConfigError(f"{key} in {where} {problem}, got {spec[key]!r}",
                                      hint=_fix(f"{key} in [{name}.{entry}]", path))


def _check_server(where: str, entry: str, spec: Mapping[str, object], path: Path) -> None:
    unknown = sorted(set(spec) - set(SERVER_RULES))
    if unknown:
        raise ConfigError(f"Unknown field {unknown[0]!r} in {where}",
                          hint=f"A server takes {', '.join(SERVER_RULES)}. "
                          + _fix(f"{unknown[0]} in [servers.{entry}]", path))
    if "base_url" not in spec:
        raise ConfigError(f"{where} has no base_url",
                          hint=f'Add base_url = "https://.../v1" to [servers.{entry}].')
    for key, rule in SERVER_RULES.items():
        problem = rule(spec[key]) if key in spec else None
        if problem is not None:
            raise ConfigError(f"{key} in {where} {problem}, got {spec[key]!r}",
                              hint=_fix(f"{key} in [servers.{entry}]", path))
