"""Settings: flags > environment > config file > defaults, and where they live.

- `paths`: `Paths`, the files and private directories (`TALKLINE_HOME` or the platform's)
- `keys`: `KeyStore`, API keys by name in a 0600 file
- `toml`: the one TOML loader (config.toml, the shipped catalog)
- `redact`: how a key is shown (`sk-...abcd`)
- `defaults`: the defaults every layer reads (server, model, retries range, timeouts)
- `checks`: what each setting may hold, checked where it enters
- `Settings` and `Settings.resolve`: one run's resolved values
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .defaults import (
    CONNECT_TIMEOUT,
    CONTEXT_STRATEGIES,
    DEFAULT_BASE_URL,
    DEFAULT_CONTEXT_STRATEGY,
    DEFAULT_MODEL,
    DEFAULT_RETRIES,
    IDLE_TIMEOUT,
    LOCAL_MODEL,
    MAX_RETRIES,
    MIN_RETRIES,
    READ_TIMEOUT,
)
from .redact import redact  # eager: the name is also its module's (tiny, no imports)

if TYPE_CHECKING:
    from ._settings import Settings
    from .keys import KeyStore
    from .paths import Paths
    from .toml import load_config_file, load_toml

# Loaded on first use, so `--help` (which reads only the defaults) stays light.
_LAZY = {"Settings": "_settings", "KeyStore": "keys", "Paths": "paths",
         "load_config_file": "toml", "load_toml": "toml"}

__all__ = [
    "CONNECT_TIMEOUT",
    "CONTEXT_STRATEGIES",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONTEXT_STRATEGY",
    "DEFAULT_MODEL",
    "DEFAULT_RETRIES",
    "IDLE_TIMEOUT",
    "LOCAL_MODEL",
    "MAX_RETRIES",
    "MIN_RETRIES",
    "READ_TIMEOUT",
    "KeyStore",
    "Paths",
    "Settings",
    "load_config_file",
    "load_toml",
    "redact",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
