"""Token counting: exact for OpenAI model families, an estimate marked as such otherwise.

OpenAI models are counted with their tiktoken encoding (`encodings`: which model uses
which, loaded from bundled files, never the network) and the API's chat rule
(`chat_rule`). A model given an exact counter (`TokenCounter(exact={model: count})`, e.g.
the embedded model's llama.cpp `/tokenize`: see `local_counts`) has its texts counted by
it; its prompts add the estimate's per-message overhead (its chat template is not
counted), so they are marked inexact. Anything else is estimated (`estimates`: one token
per 4 bytes of UTF-8, plus 4 a message), with a correction ratio learnt from the
`usage.prompt_tokens` the server reports (`TokenCounter.observe`).

`TokenCounter` caches each message's count, keyed by (encoding, role, name, content hash),
so counting a conversation that grows by one turn only encodes the new messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..estimate import PER_REPLY
from ..types import Message
from .chat_rule import REPLY_PRIMING, exact_message_tokens, message_rule, tool_tokens
from .encodings import ENCODINGS, encoding_for_model, get_encoding
from .estimates import Estimator, flat_text

if TYPE_CHECKING:
    import tiktoken

    from .catalog import Catalog

__all__ = [
    "ENCODINGS",
    "Count",
    "Estimator",
    "ExactCounter",
    "MessageCounts",
    "TokenCounter",
    "count_messages",
    "count_text",
    "encoding_for_model",
    "get_encoding",
]


@dataclass(frozen=True)
class Count:
    """A number of tokens. `exact` is False for an estimate (show it as one).

    `method` says how it was counted: `tiktoken:o200k_base`, `server`, or `estimate`.
    """

    tokens: int
    exact: bool
    method: str = "estimate"

    def __int__(self) -> int:
        return self.tokens


@dataclass(frozen=True)
class MessageCounts:
    """Per-message token counts for a prompt; `total` adds the reply priming."""

    tokens: tuple[int, ...]
    priming: int
    exact: bool
    method: str

    @property
    def total(self) -> int:
        return sum(self.tokens) + self.priming


ExactCounter = Callable[[str], "int | None"]
"""A model's own tokenizer: the tokens of a text, or None when it cannot count now (then
the estimate is used)."""


def _content_key(message: Message) -> int:
    content = message.content
    if content is None or isinstance(content, str):
        text: str | None = content
    else:
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hash((text, message.tool_calls))


def _as_message(m: Message | Mapping[str, Any]) -> Message:
    return m if isinstance(m, Message) else Message.from_dict(m)


class TokenCounter:
    """Counts texts and chat prompts; remembers each message's count.

    ```python
    counter = TokenCounter(exact={"local": lambda text: len(backend.tokenize(text))})
    counter.count_text("Hello, world", "gpt-4o")          # Count(tokens=4, exact=True, ...)
    counter.count_messages(history, "gpt-4o").tokens
    counter.observe("llama3", estimated=fit.prompt_tokens, actual=usage.prompt_tokens)
    ```
    The cache holds at most `max_entries` message counts; one counter can serve many
    conversations. Calibration (`observe`) is per model: give each conversation its own
    counter when several talk to the same unknown model.
    """

    def __init__(
        self,
        *,
        exact: Mapping[str, ExactCounter] | None = None,
        max_entries: int = 100_000,
        catalog: Catalog | None = None,
    ) -> None:
        """`catalog` gives each model's image rule (`planning.media`); the shipped one
        when not given."""
        self._catalog = catalog
        self._exact: dict[str, ExactCounter] = dict(exact or {})
        self._estimators: dict[str, Estimator] = {}
        self._cache: dict[tuple[Any, ...], tuple[float, bool]] = {}
        self._max_entries = max_entries

    def estimator(self, model: str) -> Estimator:
        est = self._estimators.get(model)
        if est is None:
            est = self._estimators[model] = Estimator()
        return est

    def observe(self, model: str, estimated: int, actual: int) -> None:
        """Calibrate the estimate for `model` with the server's `usage.prompt_tokens`.

        `estimated` is the prompt count this counter gave for that request. Exactly
        counted models ignore it.
        """
        if self.is_exact(model):
            return
        self.estimator(model).observe(estimated, actual)

    def is_exact(self, model: str) -> bool:
        """Whether `model`'s prompts are counted by its real encoding."""
        return encoding_for_model(model) is not None and self._encoding(model) is not None

    # -- counting

    def _media(self, model: str) -> tuple[str, Callable[[Mapping[str, Any]], int]]:
        """(the image rule's name, tokens of one image, file or audio part) for `model`."""
        from .catalog import default_catalog
        from .media import part_tokens

        catalog = self._catalog or default_catalog()
        info = catalog.lookup(model)
        name = (info.image_rule if info is not None else None) or ""
        rule = catalog.image_rules.get(name)
        return name, lambda part: part_tokens(part, rule)

    def _encoding(self, model: str) -> tiktoken.Encoding | None:
        name = encoding_for_model(model)
        return get_encoding(name) if name else None

    def count_text(self, text: str, model: str) -> Count:
        """The tokens of `text` as the model's encoding splits it (no message overhead).

        Special-token text such as `<|endoftext|>` counts as ordinary text, as the API
        treats it in a message.
        """
        enc = self._encoding(model)
        if enc is not None:
            return Count(len(enc.encode_ordinary(text)), True, f"tiktoken:{enc.name}")
        exact = self._exact.get(model)
        if exact is not None:
            n = exact(text)
            if n is not None:
                return Count(n, True, "server")
        return Count(self.estimator(model).estimate(text), False, "estimate")

    def count_messages(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        model: str,
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Count:
        """The prompt tokens of a request, as the API counts them (see `chat_rule`)."""
        counts = self.message_counts(messages, model)
        total = counts.total
        exact = counts.exact
        if tools:
            tool_count = self.count_tools(tools, model)
            total += tool_count.tokens
            exact = exact and tool_count.exact
        return Count(total, exact, counts.method)

    def message_counts(
        self, messages: Iterable[Message | Mapping[str, Any]], model: str
    ) -> MessageCounts:
        """Each message's tokens (with its overhead), and the reply priming."""
        enc = self._encoding(model)
        if enc is not None:
            per_message, per_name = message_rule(model)
            rule, media = self._media(model)
            key0: Any = (enc.name, per_message, per_name, rule)
            counts: list[int] = []
            exact = True
            for m in messages:
                n, ok = self._cached(key0, _as_message(m), enc, per_message, per_name, media)
                counts.append(int(n))
                exact = exact and ok
            return MessageCounts(tuple(counts), REPLY_PRIMING, exact, f"tiktoken:{enc.name}")
        counter = self._exact.get(model)
        est = self.estimator(model)
        rule, media = self._media(model)
        key0 = ("model", model) if counter is not None else ("estimate", est.bytes_per_token,
                                                              rule)
        found = [self._cached_raw(key0, _as_message(m), est, counter, media)
                 for m in messages]
        method = "server" if found and all(by_server for _, by_server in found) else "estimate"
        return MessageCounts(tuple(est.scale(r) for r, _ in found), est.scale(PER_REPLY),
                             False, method)

    def count_tools(self, tools: Sequence[Mapping[str, Any]], model: str) -> Count:
        """Tokens that tool (function) definitions add to a prompt: an approximation."""
        enc = self._encoding(model)
        if enc is None:
            text = json.dumps(list(tools), ensure_ascii=False, default=str)
            return Count(self.estimator(model).estimate(text), False, "estimate")
        return Count(tool_tokens(tools, enc), False, f"tiktoken:{enc.name}")

    # -- the cache

    def _remember(self, key: tuple[Any, ...], value: tuple[float, bool]) -> None:
        cache = self._cache
        if len(cache) >= self._max_entries:
            # Drop the oldest quarter (dicts keep insertion order): cheap and good enough
            # for conversations that grow at the end.
            for old in list(cache)[: max(1, self._max_entries // 4)]:
                del cache[old]
        cache[key] = value

    def _cached(
        self, key0: Any, m: Message, enc: tiktoken.Encoding, per_message: int, per_name: int,
        media: Callable[[Mapping[str, Any]], int] | None = None,
    ) -> tuple[float, bool]:
        key = (key0, m.role, m.name, m.tool_call_id, _content_key(m))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        value = exact_message_tokens(m, enc, per_message, per_name, media)
        self._remember(key, value)
        return value

    def _cached_raw(
        self, key0: Any, m: Message, est: Estimator, counter: ExactCounter | None,
        media: Callable[[Mapping[str, Any]], int] | None = None,
    ) -> tuple[float, bool]:
        """(raw units with the message overhead, whether the model's tokenizer counted)."""
        key = (key0, m.role, m.name, m.tool_call_id, _content_key(m))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0], counter is not None
        text = flat_text(m)
        extra = 0.0
        if media is not None and isinstance(m.content, list):
            extra = float(sum(media(p) for p in m.content if p.get("type") != "text"))
        n = counter(text) if counter is not None else None
        if n is None:
            raw = est.raw(text) + est.per_message + extra
            if counter is None:  # a tokenizer that could not count: not cached under its key
                self._remember(key, (raw, False))
            return raw, False
        raw = float(n) + est.per_message + extra
        self._remember(key, (raw, False))
        return raw, True


# ---------------------------------------------------------------- module shortcuts

_default_counter: TokenCounter | None = None


def _default() -> TokenCounter:
    global _default_counter
    if _default_counter is None:
        _default_counter = TokenCounter()
    return _default_counter


def count_text(text: str, model: str) -> Count:
    """`TokenCounter.count_text` on a shared counter."""
    return _default().count_text(text, model)


def count_messages(
    messages: Iterable[Message | Mapping[str, Any]],
    model: str,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> Count:
    """`TokenCounter.count_messages` on a shared counter."""
    return _default().count_messages(messages, model, tools=tools)
