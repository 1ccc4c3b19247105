"""Keys out of every error text the wire produces.

The configured key and the Bearer value actually sent are replaced by `***` wherever they
appear, whatever their shape (not only `sk-...`), also as a server would echo them inside
JSON (escaped quotes, backslashes, `\\/`) or in a URL (percent-encoded). A value shorter than
`MIN_SECRET` characters is not treated as a secret: replacing it would garble every text.
Any `Bearer <token>` (of 8 characters or more) in an error text loses its token, whoever's
it is.

Where server text enters, it passes here: every error the wire raises (`error`, applied
once at the connection's boundary, whatever made the error), and the answers it passes on
(`answer`: only secrets of at least `MIN_ANSWER_SECRET` characters, so that a short
placeholder key such as `ollama` does not garble the model's words).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MIN_ANSWER_SECRET", "MIN_SECRET", "Redactor", "SplitGuard", "redact_key_prefixes"]

MIN_SECRET = 4
MIN_ANSWER_SECRET = 12
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"'<>,;\\]{8,}")
_SK = re.compile(r"\b(sk-[A-Za-z0-9_\-]{0,3})[A-Za-z0-9_\-*]{4,}")


def redact_key_prefixes(text: str) -> str:
    """OpenAI-style keys echoed in part ("Incorrect API key provided: sk-abc***"): only
    the first characters stay."""
    return _SK.sub(r"\1***", text)


class Redactor:
    """Replaces the given secrets, in every form a server may echo them, with `***`."""

    def __init__(self, secrets: Iterable[str | None], *, min_length: int = MIN_SECRET,
                 bearer: bool = True) -> None:
        self._secrets = tuple(s for s in secrets if s)
        self._bearer = bearer
        forms: set[str] = set()
        for secret in self._secrets:
            if len(secret) < max(min_length, MIN_SECRET):
                continue
            escaped = json.dumps(secret)[1:-1]
            forms.update({secret, escaped, escaped.replace("/", "\\/"),
                          json.dumps(secret, ensure_ascii=False)[1:-1],
                          quote(secret, safe=""), quote(secret)})
        # Longest first, so that a form containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    @property
    def forms(self) -> tuple[str, ...]:
        """Every shape of the secrets that is replaced, longest first."""
        return tuple(self._forms)

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, "***")
        if self._bearer and ("earer" in text or "EARER" in text):
            text = _BEARER.sub(r"\1***", text)
        return text

    def value(self, value: Any) -> Any:
        """A decoded JSON value (or any str/list/dict tree) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def error(self, exc: BaseException) -> BaseException:
        """`exc` (a talkline error) with every text it carries redacted, in place; its
        cause too. Returned for `raise redactor.error(exc)`."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self._redact_fields(current)
            current = getattr(current, "cause", None) or current.__cause__
        return exc

    def _redact_fields(self, exc: BaseException) -> None:
        for name in ("message", "hint", "url", "reason", "code", "type", "param"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                setattr(exc, name, self.text(value))
        for name in ("body", "headers"):
            if getattr(exc, name, None) is not None:
                setattr(exc, name, self.value(getattr(exc, name)))
        exc.args = tuple(self.text(a) if isinstance(a, str) else a for a in exc.args)

    def answer(self) -> Redactor:
        """The redactor for the answers passed on: the same secrets, the short ones
        spared (see `MIN_ANSWER_SECRET`), and any other Bearer token left as the model
        wrote it ("the bearer of bad news" is prose)."""
        return Redactor(self._secrets, min_length=MIN_ANSWER_SECRET, bearer=False)


class SplitGuard:
    """One streamed text (a choice's content, its reasoning) redacted across its chunks: a
    secret a server sends in pieces ("sk-te" then "st-...") does not come out whole.

    The end of what came that matches at least `HOLD` characters of the start of a secret
    is held back until the next piece shows whether it is one (`feed`), or until the text
    ends (`flush`). A shorter match is shown at once (prose often ends in "s" or "sk"), and
    when the next piece completes a secret begun in what was shown, the rest of it becomes
    `***`: so at most `HOLD - 1` leading characters of a key are ever shown, and a stalled
    stream never waits on ordinary text."""

    HOLD = 6

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""
        self._shown = ""  # the end of what was shown, as long as the longest form

    def feed(self, text: str) -> str:
        """What of the held text and `text` can be shown now, redacted."""
        text = self._begun(self._redactor.text(self._pending + text))
        self._pending = ""
        hold = min(self._held_length(self._shown + text), len(text))
        if hold:
            text, self._pending = text[:len(text) - hold], text[len(text) - hold:]
        self._remember(text)
        return text

    def flush(self) -> str:
        """What was held back, at the end of the text (not a secret: it never completed)."""
        out, self._pending = self._pending, ""
        self._remember(out)
        return out

    def _begun(self, text: str) -> str:
        """`text` with the rest of a secret that began in what was shown made `***`."""
        for form in self._redactor.forms:
            for k in range(min(len(form) - 1, len(self._shown)), 0, -1):
                if self._shown.endswith(form[:k]) and text.startswith(form[k:]):
                    return "***" + text[len(form) - k:]
        return text

    def _held_length(self, text: str) -> int:
        """The longest end of `text` that is a proper start of a secret's form, when it is
        at least HOLD characters long; else 0."""
        best = 0
        for form in self._redactor.forms:
            for k in range(min(len(form) - 1, len(text)), max(best, self.HOLD - 1), -1):
                if text.endswith(form[:k]):
                    best = k
                    break
        return best

    def _remember(self, shown: str) -> None:
        longest = max((len(f) for f in self._redactor.forms), default=0)
        self._shown = (self._shown + shown)[-longest:] if longest else ""
