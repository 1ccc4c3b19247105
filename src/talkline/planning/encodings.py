"""Which tiktoken encoding an OpenAI model uses, and the encodings themselves.

```
gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, o1*, o3*, o4*      o200k_base
gpt-4, gpt-4-turbo, gpt-4-*, gpt-3.5-turbo*, text-embedding-3-*       cl100k_base
anything else                                                           None
```

The encoding files ship in `talkline/data/tiktoken` (their SHA-256 is checked on load),
so loading one never touches the network.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODINGS", "base_model", "encoding_for_model", "get_encoding"]

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


def base_model(model: str) -> str:
    """`openai/gpt-4o` and `ft:gpt-4o-mini:org::id` count like their base model."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


def encoding_for_model(model: str) -> str | None:
    """The tiktoken encoding an OpenAI model uses, or None when it is not known."""
    name = base_model(model)
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
