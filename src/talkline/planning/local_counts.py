"""Exact token counts for the embedded models: their own tokenizer, through the llama.cpp
server's `/tokenize` (`LocalBackend.tokenize`).

`local_counters(settings)` gives a `TokenCounter` one exact counter per local model name
(`local` and each `[models.NAME]` of config.toml). A counter starts the model's server
the first time it counts (the request that follows needs it anyway), but never installs
a model: while the GGUF file is missing, or when the server cannot answer, it returns
None and the count is the estimate, marked as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..settings import LOCAL_MODEL

if TYPE_CHECKING:
    from ..backends.local.backend import LocalBackend
    from ..settings import Settings
    from .tokens import ExactCounter

__all__ = ["LocalCount", "local_counters"]


class LocalCount:
    """The tokens of a text as the local model `name` splits them, or None."""

    def __init__(self, name: str, conf: dict[str, object]) -> None:
        self.name = name
        self._conf = conf
        self._backend: LocalBackend | None = None

    def _open(self) -> LocalBackend | None:
        if self._backend is None:
            from ..backends.local.backend import LocalBackend, spec_for

            spec = spec_for(self.name, self._conf)
            if not spec.path.is_file():
                return None  # not installed yet: counting does not install it
            self._backend = LocalBackend(spec)
        return self._backend

    def __call__(self, text: str) -> int | None:
        try:
            backend = self._open()
            return None if backend is None else len(backend.tokenize(text))
        except Exception:  # noqa: BLE001 - a count is advice: any failure means the estimate
            return None


def local_counters(settings: Settings) -> dict[str, ExactCounter]:
    """An exact counter for each local model name the settings know."""
    names = dict.fromkeys([LOCAL_MODEL, *settings.local_models])
    return {name: LocalCount(name, dict(settings.local_models.get(name) or {}))
            for name in names}
