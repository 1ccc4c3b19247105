"""A reply checked against its schema: parsed as JSON, then validated with the `jsonschema`
library (imported only here, when a schema is used, so start-up does not pay for it). A
problem names its JSON path: `$.items[2].price: 'x' is not of type 'number'`. No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "check_reply", "json_path"]

_FENCE = re.compile(r"\A\s*```(?:json)?\s*\n(.*)\n\s*```\s*\Z", re.S)


@dataclass(frozen=True)
class Problem:
    """What is wrong with a reply: where (`path`) and what (`message`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def json_path(parts: Iterable[Any]) -> str:
    """`$.items[2].price` for the parts `items`, 2, `price`."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_]\w*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def check_reply(text: str, schema: Mapping[str, Any]) -> tuple[Any, Problem | None]:
    """The reply's JSON value and None, or (None, the first problem found). A reply wrapped
    in a ```json fence (some servers without strict mode do that) is read inside it."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    if not body.strip():
        return None, Problem("$", "the reply is empty, not JSON")
    try:
        value = json.loads(body)
    except ValueError as exc:
        return None, Problem("$", f"the reply is not valid JSON ({exc})")
    import jsonschema  # lazily: only a call with a schema needs it

    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    validator = validator_class(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return value, None
    return None, Problem(json_path(error.absolute_path), error.message)
