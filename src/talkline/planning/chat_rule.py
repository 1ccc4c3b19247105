"""How the OpenAI API counts a chat prompt, for a model whose encoding is known.

The OpenAI cookbook's `num_tokens_from_messages`, checked there against
`usage.prompt_tokens`:

```
each message      3 + tokens(role) + tokens(content)  [+ tokens(name) + 1]
the reply         3 more (the API primes it with <|start|>assistant<|message|>)
gpt-3.5-turbo-0301  4 per message, and a name replaces the role (-1)
```

The cookbook verified the rule for the gpt-3.5, gpt-4 and gpt-4o families; the o-series
and gpt-5 render chat the same way, so the same rule is used for them (unverified: no
real API is reachable from here). Parts that no published rule covers are approximated
and make the count inexact:

- tool definitions: the cookbook's function-calling rule (per function 7 tokens on
  o200k, 10 on cl100k, + `name:description`; per property 3 + `name:type:description`;
  enum items 3 each; 12 at the end);
- an assistant message's tool calls: 3 + tokens(name) + tokens(arguments) per call;
- images, files and audio: `planning.media` (the model family's image rule from the
  catalog, PDFs and audio roughly) when the counter has a catalog; without one, images
  are 85 tokens at `detail: low`, otherwise 765 (a 1024x1024 picture at high detail).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..types import Message
from .encodings import base_model

if TYPE_CHECKING:
    import tiktoken

__all__ = ["REPLY_PRIMING", "exact_message_tokens", "message_rule", "tool_tokens"]

REPLY_PRIMING = 3

# Cookbook function-calling rule: (func_init, prop_init, prop_key, enum_init, enum_item,
# func_end) per encoding.
_TOOL_RULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "o200k_base": (7, 3, 3, -3, 3, 12),
    "cl100k_base": (10, 3, 3, -3, 3, 12),
}
_IMAGE_LOW = 85
_IMAGE_HIGH = 765


def message_rule(model: str) -> tuple[int, int]:
    """(tokens per message, tokens per name) for an exactly counted model."""
    if base_model(model).startswith("gpt-3.5-turbo-0301"):
        return 4, -1
    return 3, 1


def exact_message_tokens(
    m: Message, enc: tiktoken.Encoding, per_message: int, per_name: int,
    media: Callable[[Mapping[str, Any]], int] | None = None,
) -> tuple[float, bool]:
    """`media`, when given, estimates image, file and audio parts (`planning.media`)."""
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
            elif media is not None and kind in ("image_url", "file", "input_audio"):
                tokens += media(part)
                exact = False
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


def tool_tokens(tools: Sequence[Mapping[str, Any]], enc: tiktoken.Encoding) -> int:
    """Tokens that tool (function) definitions add to a prompt: an approximation."""
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
    return total
