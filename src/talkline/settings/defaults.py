"""The defaults every layer reads: the server, the model, retries and timeouts.

Written once here. The wire's `Timeouts`, the client and the batch transport take their
defaults from these names; the `--retries` option and the settings check share the range.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "APIS",
    "CONNECT_TIMEOUT",
    "CONTEXT_STRATEGIES",
    "ContextStrategy",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONTEXT_STRATEGY",
    "DEFAULT_MODEL",
    "DEFAULT_RETRIES",
    "DEADLINE",
    "IDLE_TIMEOUT",
    "LOCAL_MODEL",
    "MAX_BODY_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_STDIN_BYTES",
    "MAX_RETRIES",
    "MIN_RETRIES",
    "READ_TIMEOUT",
    "SLOW_DEADLINE",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_MODEL = "local"  # the embedded model's name (`-m local`)

DEFAULT_RETRIES = 2
MIN_RETRIES = 0
MAX_RETRIES = 100  # `--retries` and `retries =` in config.toml: 0 to 100

CONNECT_TIMEOUT = 5.0  # seconds to open a connection
READ_TIMEOUT = 600.0  # seconds a whole non-streamed answer may take between bytes
IDLE_TIMEOUT = 30.0  # seconds a stream may stay silent before it counts as stalled

# When a conversation outgrows the model's window (`planning.context` does each).
ContextStrategy = Literal["truncate", "summarize", "error"]
CONTEXT_STRATEGIES: tuple[str, ...] = get_args(ContextStrategy)
DEFAULT_CONTEXT_STRATEGY = "truncate"

# The endpoints a request may go to: Chat Completions, or the Responses API.
APIS: tuple[str, ...] = ("chat", "responses")

DEADLINE = 600.0  # seconds one request may take in all, its retries included
SLOW_DEADLINE = 1800.0  # the same for a model the catalog marks `slow = true` (-pro families)
MAX_EVENT_BYTES = 8 * 1024 * 1024  # one stream event (or line) of an answer
MAX_BODY_BYTES = 32 * 1024 * 1024  # a whole answer's body, decompressed
MAX_STDIN_BYTES = 10 * 1024 * 1024  # a prompt read from stdin
