"""Token counting: exact for OpenAI model families, an estimate marked as such otherwise.

Exact counts use tiktoken with the encoding files that ship in `talkline/data/tiktoken`
(their SHA-256 is checked on load), so counting never touches the network.

```
gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, o1*, o3*, o4*      o200k_base
gpt-4, gpt-4-turbo, gpt-4-*, gpt-3.5-turbo*, text-embedding-3-*       cl100k_base
anything else                                                           estimate
```

A chat prompt is counted as the API counts it (the OpenAI cookbook's
`num_tokens_from_messages`, checked there against `usage.prompt_tokens`):

```
each message      3 + tokens(role) + tokens(content)  [+ tokens(name) + 1]
the reply         3 more (the API primes it with <|start|>assistant<|message|>)
gpt-3.5-turbo-0301  4 per message, and a name replaces the role (-1)
```

The cookbook verified the rule for the gpt-3.5, gpt-4 and gpt-4o families; the o-series
and gpt-5 render chat the same way, so the same rule is used for them (unverified: no
real API is reachable from here). Parts that no published rule covers are approximated
and make the count inexact (`Count.exact` is False):

- tool definitions: the cookbook's function-calling rule (per function 7 tokens on
  o200k, 10 on cl100k, + `name:description`; per property 3 + `name:type:description`;
  enum items 3 each; 12 at the end);
- an assistant message's tool calls: 3 + tokens(name) + tokens(arguments) per call;
- images: 85 tokens at `detail: low`, otherwise 765 (a 1024x1024 picture at high detail);
  audio and files: nothing (their size is not known from the message).

Other models are counted by a tokenizer given for them (`TokenCounter(tokenizers=...)`),
else estimated at one token per 4 bytes of UTF-8 (that is 4 characters of English; closer
than 4 characters for most other scripts), plus 4 per message. An `Estimator` learns a
correction ratio from the `usage.prompt_tokens` the server reports (`TokenCounter.observe`).

`TokenCounter` caches each message's count, keyed by (encoding, role, name, content hash),
so counting a conversation that grows by one turn only encodes the new messages.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types import Message

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "ENCODINGS",
    "Count",
    "Estimator",
    "MessageCounts",
    "TextTokenizer",
    "TokenCounter",
    "count_messages",
    "count_text",
    "encoding_for_model",
    "get_encoding",
]

# ---------------------------------------------------------------- encodings

_DATA = Path(__file__).resolve().parents[1] / "data" / "tiktoken"

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Copied from tiktoken_ext.openai_public (tiktoken 0.14); the test suite checks that these
# definitions encode exactly like tiktoken's own.
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@dataclass(frozen=True)
class _EncodingSpec:
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int]


_SPECS: dict[str, _EncodingSpec] = {
    "o200k_base": _EncodingSpec(
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "cl100k_base": _EncodingSpec(
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
}
ENCODINGS: tuple[str, ...] = tuple(_SPECS)

_O200K_MODELS = re.compile(
    r"(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5(\.\d+)?|o1|o3|o4)([-.].*)?"
)
_CL100K_MODELS = re.compile(
    r"(gpt-4|gpt-3\.5-turbo|gpt-35-turbo|text-embedding-3-(small|large)|text-embedding-ada-002)"
    r"(-.*)?"
)

_encodings: dict[str, tiktoken.Encoding] = {}
_encodings_lock = threading.Lock()


def _base_model(model: str) -> str:
    """`openai/gpt-4o` and `ft:gpt-4o-mini:org::id` count like their base model."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


def encoding_for_model(model: str) -> str | None:
    """The tiktoken encoding an OpenAI model uses, or None when it is not known."""
    name = _base_model(model)
    if _O200K_MODELS.fullmatch(name):
        return "o200k_base"
    if _CL100K_MODELS.fullmatch(name):
        return "cl100k_base"
    return None


def _load_ranks(name: str) -> dict[bytes, int]:
    spec = _SPECS[name]
    with gzip.open(_DATA / f"{name}.tiktoken.gz", "rb") as fh:
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise RuntimeError(
            f"The bundled {name} encoding file is damaged (SHA-256 {digest}); "
            "reinstall talkline."
        )
    # The same parse as tiktoken.load.load_tiktoken_bpe, minus its download-and-cache path.
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def get_encoding(name: str) -> tiktoken.Encoding | None:
    """The tiktoken encoding built from the bundled file; None when tiktoken is missing.

    Loading takes a few hundred milliseconds the first time; the result is kept.
    """
    if name not in _SPECS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    with _encodings_lock:
        enc = _encodings.get(name)
        if enc is not None:
            return enc
        try:
            import tiktoken
        except ImportError:
            return None
        spec = _SPECS[name]
        enc = tiktoken.Encoding(
            name,
            pat_str=spec.pat_str,
            mergeable_ranks=_load_ranks(name),
            special_tokens=dict(spec.special_tokens),
        )
        _encodings[name] = enc
        return enc


# ---------------------------------------------------------------- counts


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


TextTokenizer = Callable[[str], "int | None"]
"""Counts the tokens of a text; returns None when it cannot (then an estimate is used)."""


class Estimator:
    """Token estimates for a model whose tokenizer is not known, calibrated by usage.

    Starts at one token per `bytes_per_token` bytes of UTF-8. Each `observe(estimated,
    actual)` moves the correction ratio towards `actual / estimated` (fully on the first
    observation, half-way after that), so a conversation's estimates converge on what the
    server reports in `usage.prompt_tokens`.
    """

    MIN_RATIO = 0.1
    MAX_RATIO = 10.0

    def __init__(self, bytes_per_token: float = 4.0, per_message: int = 4) -> None:
        self.bytes_per_token = bytes_per_token
        self.per_message = per_message
        self.ratio = 1.0
        self.observations = 0

    def raw(self, text: str) -> float:
        """Uncalibrated token units of a text."""
        return len(text.encode("utf-8", "surrogatepass")) / self.bytes_per_token

    def scale(self, raw: float) -> int:
        """Calibrated tokens for a number of raw units (0 stays 0, else at least 1)."""
        if raw <= 0:
            return 0
        return max(1, round(raw * self.ratio))

    def estimate(self, text: str) -> int:
        return self.scale(math.ceil(self.raw(text)))

    def observe(self, estimated: int, actual: int) -> None:
        """Learn from a prompt this estimator counted `estimated` that the server counted
        `actual` (its `usage.prompt_tokens`)."""
        if estimated <= 0 or actual <= 0:
            return
        weight = 1.0 if self.observations == 0 else 0.5
        ratio = self.ratio * (actual / estimated) ** weight
        self.ratio = min(self.MAX_RATIO, max(self.MIN_RATIO, ratio))
        self.observations += 1


# ---------------------------------------------------------------- the counter

# Cookbook function-calling rule: (func_init, prop_init, prop_key, enum_init, enum_item,
# func_end) per encoding.
_TOOL_RULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "o200k_base": (7, 3, 3, -3, 3, 12),
    "cl100k_base": (10, 3, 3, -3, 3, 12),
}
_IMAGE_LOW = 85
_IMAGE_HIGH = 765


def _message_rule(model: str) -> tuple[int, int]:
    """(tokens per message, tokens per name) for an exactly counted model."""
    if _base_model(model).startswith("gpt-3.5-turbo-0301"):
        return 4, -1
    return 3, 1


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
    counter = TokenCounter()
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
        tokenizers: Mapping[str, TextTokenizer] | None = None,
        max_entries: int = 100_000,
    ) -> None:
        self._tokenizers: dict[str, TextTokenizer] = dict(tokenizers or {})
        self._estimators: dict[str, Estimator] = {}
        self._cache: dict[tuple[Any, ...], tuple[float, bool]] = {}
        self._max_entries = max_entries

    # -- configuration

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
        tokenizer = self._tokenizers.get(model)
        if tokenizer is not None:
            n = tokenizer(text)
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
        """The prompt tokens of a request, as the API counts them (see the module doc)."""
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
            per_message, per_name = _message_rule(model)
            key0: Any = (enc.name, per_message, per_name)
            counts: list[int] = []
            exact = True
            for m in messages:
                n, ok = self._cached(key0, _as_message(m), enc, per_message, per_name)
                counts.append(int(n))
                exact = exact and ok
            return MessageCounts(tuple(counts), 3, exact, f"tiktoken:{enc.name}")
        tokenizer = self._tokenizers.get(model)
        est = self.estimator(model)
        key0 = ("model", model) if tokenizer is not None else ("estimate", est.bytes_per_token)
        raws = [self._cached_raw(key0, _as_message(m), est, tokenizer) for m in messages]
        method = "server" if tokenizer is not None and getattr(
            tokenizer, "available", True) else "estimate"
        return MessageCounts(tuple(est.scale(r) for r in raws), est.scale(3), False, method)

    def count_tools(self, tools: Sequence[Mapping[str, Any]], model: str) -> Count:
        """Tokens that tool (function) definitions add to a prompt: an approximation."""
        enc = self._encoding(model)
        if enc is None:
            text = json.dumps(list(tools), ensure_ascii=False, default=str)
            return Count(self.estimator(model).estimate(text), False, "estimate")
        f_init, p_init, p_key, e_init, e_item, f_end = _TOOL_RULES[enc.name]

        def n(text: str) -> int:
            return len(enc.encode_ordinary(text))

        total = 0
        for tool in tools:
            fn = tool.get("function") or tool
            total += f_init
            desc = str(fn.get("description") or "").removesuffix(".")
            total += n(f"{fn.get('name', '')}:{desc}")
            props = (fn.get("parameters") or {}).get("properties") or {}
            if props:
                total += p_init
                for key, prop in props.items():
                    prop = prop if isinstance(prop, Mapping) else {}
                    total += p_key
                    if "enum" in prop:
                        total += e_init
                        for item in prop.get("enum") or ():
                            total += e_item + n(str(item))
                    p_desc = str(prop.get("description") or "").removesuffix(".")
                    total += n(f"{key}:{prop.get('type', '')}:{p_desc}")
        if tools:
            total += f_end
        return Count(total, False, f"tiktoken:{enc.name}")

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
        self, key0: Any, m: Message, enc: tiktoken.Encoding, per_message: int, per_name: int
    ) -> tuple[float, bool]:
        key = (key0, m.role, m.name, m.tool_call_id, _content_key(m))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        value = _exact_message_tokens(m, enc, per_message, per_name)
        self._remember(key, value)
        return value

    def _cached_raw(
        self, key0: Any, m: Message, est: Estimator, tokenizer: TextTokenizer | None
    ) -> float:
        key = (key0, m.role, m.name, m.tool_call_id, _content_key(m))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0]
        text = _flat_text(m)
        raw: float | None = None
        if tokenizer is not None:
            n = tokenizer(text)
            raw = None if n is None else float(n)
        if raw is None:
            raw = est.raw(text)
            if tokenizer is not None:
                # The server's tokenizer went away: do not keep mixed units under its key.
                return raw + est.per_message
        raw += est.per_message
        self._remember(key, (raw, False))
        return raw


def _flat_text(m: Message) -> str:
    parts = [m.role, m.name or "", m.text]
    for call in m.tool_calls:
        parts += [call.name, call.arguments]
    return "\n".join(p for p in parts if p)


def _exact_message_tokens(
    m: Message, enc: tiktoken.Encoding, per_message: int, per_name: int
) -> tuple[float, bool]:
    exact = True
    tokens = per_message + len(enc.encode_ordinary(m.role))
    content = m.content
    if isinstance(content, str):
        tokens += len(enc.encode_ordinary(content))
    elif content is not None:
        for part in content:
            kind = part.get("type")
            if kind == "text":
                tokens += len(enc.encode_ordinary(str(part.get("text", ""))))
            elif kind == "refusal":
                tokens += len(enc.encode_ordinary(str(part.get("refusal", ""))))
            elif kind == "image_url":
                detail = (part.get("image_url") or {}).get("detail", "auto")
                tokens += _IMAGE_LOW if detail == "low" else _IMAGE_HIGH
                exact = False
            else:
                exact = False
    if m.name is not None:
        tokens += len(enc.encode_ordinary(m.name)) + per_name
    for call in m.tool_calls:
        tokens += 3 + len(enc.encode_ordinary(call.name)) + len(
            enc.encode_ordinary(call.arguments)
        )
        exact = False
    if m.role == "tool":
        exact = False
    return float(tokens), exact


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
