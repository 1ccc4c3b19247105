"""Before anything is sent: OpenAI's own API refuses every request without a key, so a
remote request there with no key is stopped here, with what to do, instead of failing at
the server. Any other server (a local Ollama, a proxy, llama.cpp) may need no key."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import MissingKeyError

__all__ = ["OPENAI_HOST", "needs_key", "require_key"]

OPENAI_HOST = "api.openai.com"


def needs_key(base_url: str, api_key: str | None) -> bool:
    """True when `base_url` is OpenAI's API (compared by host) and there is no key."""
    if api_key:
        return False
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    return host.rstrip(".").lower() == OPENAI_HOST


def require_key(base_url: str, api_key: str | None) -> None:
    """Raise MissingKeyError, saying how to set a key, when `needs_key`."""
    if needs_key(base_url, api_key):
        raise MissingKeyError(
            f"No API key for {base_url.rstrip('/')}.",
            hint="Set OPENAI_API_KEY, run `talkline keys set openai`, or use -m local for "
            "the embedded model.",
        )
