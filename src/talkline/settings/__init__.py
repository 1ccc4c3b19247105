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

from ._settings import Settings
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
from .keys import KeyStore
from .paths import Paths
from .redact import redact
from .toml import load_config_file, load_toml

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
