"""Keys out of every error text the wire produces.

The configured key and the Bearer value actually sent are replaced by `***` wherever they
appear, whatever their shape (not only `sk-...`), also as a server would echo them inside
JSON (escaped quotes, backslashes, `\\/`) or in a URL (percent-encoded). A value shorter than
`MIN_SECRET` characters is not treated as a secret: replacing it would garble every text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MIN_SECRET", "Redactor", "redact_key_prefixes"]

MIN_SECRET = 4
_SK = re.compile(r"\b(sk-[A-Za-z0-9_\-]{0,3})[A-Za-z0-9_\-*]{4,}")


def redact_key_prefixes(text: str) -> str:
    """OpenAI-style keys echoed in part ("Incorrect API key provided: sk-abc***"): only
    the first characters stay."""
    return _SK.sub(r"\1***", text)


class Redactor:
    """Replaces the given secrets, in every form a server may echo them, with `***`."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET:
                continue
            escaped = json.dumps(secret)[1:-1]
            forms.update({secret, escaped, escaped.replace("/", "\\/"),
                          json.dumps(secret, ensure_ascii=False)[1:-1],
                          quote(secret, safe=""), quote(secret)})
        # Longest first, so that a form containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, "***")
        return text

    def value(self, value: Any) -> Any:
        """A decoded JSON value (or any str/list/dict tree) with every string redacted."""
        if not self._forms:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
