"""Turning input lines into Batch API requests, and saying why a line is bad (pure).

Accepted forms (one request per line or row):

* JSONL in the Batch API's format: `{"custom_id", "method", "url", "body"}`;
* simpler JSONL: `{"prompt": "...", "id": "..."}` or `{"messages": [...], "id": "..."}`,
  optionally with `system`, `model` and any request parameter;
* plain text, one prompt a line (`format="text"`; ids `line-N`);
* CSV with a header, the prompt in `column` (ids from `id_column`, else `row-N`).

Defaults (model, system prompt, request parameters) apply to the lines that do not set
them. Every line is checked as the API would check it before anything is sent, and each
problem names its line number.

Reading files is `_reader`'s job; everything here works on one parsed line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..types import ROLES, ChatParams

__all__ = [
    "CHAT_URL",
    "BatchRequest",
    "InputOptions",
    "InputReport",
    "InvalidInputError",
    "InvalidLine",
    "LineProblem",
    "check_body",
    "parse_object",
    "parse_prompt",
]

CHAT_URL = "/v1/chat/completions"
InputFormat = Literal["jsonl", "text", "csv"]

_SIMPLE_KEYS = {"prompt", "messages", "id", "custom_id", "system", "model"}
_PARAM_NAMES = frozenset(ChatParams.field_names()) - {"model", "extra_body"}
_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")
_REFUSED = {
    "stream": "stream is not supported in a batch (answers are collected whole)",
    "stream_options": "stream_options is not supported in a batch",
}


@dataclass(frozen=True)
class InputOptions:
    """How to read the file, and the defaults for lines that leave something out.

    `params` are request body fields (`temperature`, `max_tokens`, ...), as
    `ChatParams.to_body()` gives them.
    """

    format: InputFormat = "jsonl"
    column: str | None = None
    id_column: str | None = None
    model: str | None = None
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in ("jsonl", "text", "csv"):
            raise ConfigError(f"format must be jsonl, text or csv; got {self.format!r}")
        if self.format == "csv" and not self.column:
            raise ConfigError("A CSV input needs the prompt column: --column NAME")


@dataclass(frozen=True)
class BatchRequest:
    """One valid request. `line` is its 1-based line (or CSV row start) in the file;
    `index` its 0-based position among the valid requests (the output order)."""

    custom_id: str
    body: dict[str, Any]
    line: int
    index: int

    def to_line(self) -> dict[str, Any]:
        """The Batch API input line."""
        return {"custom_id": self.custom_id, "method": "POST", "url": CHAT_URL, "body": self.body}


@dataclass(frozen=True)
class LineProblem:
    """Why one line cannot be sent."""

    line: int
    message: str
    custom_id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class InputReport:
    """The result of the validating pass: counts, and the first problems found.

    `without_max_tokens` counts valid requests with no token limit: the rate limiter
    must then assume a long answer (and a budget, the model's longest).
    `invalid_lines` holds every bad line's number (see `iter_requests`).
    """

    path: Path
    valid: int
    problems: tuple[LineProblem, ...]
    problem_count: int
    without_max_tokens: int = 0
    invalid_lines: frozenset[int] = frozenset()

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class InvalidInputError(ConfigError):
    """The input holds lines the API would refuse; nothing was sent."""

    def __init__(self, report: InputReport, *, shown: int = 20) -> None:
        lines = [f"{report.path}: {p}" for p in report.problems[:shown]]
        more = report.problem_count - min(shown, len(report.problems))
        if more > 0:
            lines.append(f"... and {more} more")
        noun = "line is" if report.problem_count == 1 else "lines are"
        super().__init__(
            f"{report.problem_count} input {noun} invalid; nothing was sent.\n"
            + "\n".join(lines),
            hint="Fix them, or add --skip-invalid to send the other "
            f"{report.valid} lines.",
        )
        self.report = report


class InvalidLine(Exception):
    """Raised by the parsers: `message` says why the line cannot be sent."""

    def __init__(self, message: str, custom_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.custom_id = custom_id


# ---------------------------------------------------------------- checking a body


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidLine("'messages' must be a non-empty list of messages")
    for i, m in enumerate(messages, 1):
        if not isinstance(m, Mapping):
            raise InvalidLine(f"message {i} is not an object")
        role = m.get("role")
        if role not in ROLES:
            hint = " (did you mean 'assistant'?)" if str(role).startswith("assist") else ""
            raise InvalidLine(f"message {i} has role {role!r}; roles are "
                           f"{', '.join(ROLES)}{hint}")
        content = m.get("content")
        if content is None:
            if role == "assistant" and m.get("tool_calls"):
                continue
            raise InvalidLine(f"message {i} ({role}) has no content")
        if not isinstance(content, (str, list)):
            raise InvalidLine(f"message {i} ({role}) content must be a string or a list of parts")


def check_body(body: Any) -> str | None:
    """Why the API would refuse this chat completion body, or None when it is fine."""
    try:
        _check_body(body)
    except InvalidLine as exc:
        return exc.message
    return None


def _check_body(body: Any) -> None:
    if not isinstance(body, Mapping):
        raise InvalidLine("'body' must be an object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidLine("'body' has no model (set one in the line or with -m)")
    _check_messages(body.get("messages"))
    for name, why in _REFUSED.items():
        if body.get(name):
            raise InvalidLine(why)
    try:
        ChatParams.from_dict({k: v for k, v in body.items() if k != "messages"})
    except ConfigError as exc:
        raise InvalidLine(exc.message) from None
    except Exception as exc:  # a field of the wrong shape, e.g. response_format: "json"
        raise InvalidLine(f"a request parameter has the wrong type ({exc})") from None


# ---------------------------------------------------------------- building bodies


def _apply_defaults(body: dict[str, Any], options: InputOptions) -> dict[str, Any]:
    if "model" not in body and options.model:
        body["model"] = options.model
    messages = body.get("messages")
    if options.system and isinstance(messages, list) and not any(
        isinstance(m, Mapping) and m.get("role") in ("system", "developer") for m in messages
    ):
        body["messages"] = [{"role": "system", "content": options.system}, *messages]
    has_max = any(k in body for k in _MAX_TOKEN_FIELDS)
    for name, value in options.params.items():
        if name in body or name == "model" or (name in _MAX_TOKEN_FIELDS and has_max):
            continue
        body[name] = value
    return body


def _custom_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidLine("the id must be a string")
    text = str(value)
    if not text.strip():
        raise InvalidLine("the id is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate ("\ud800") cannot be written to the results, so the line could
        # never be recorded as answered: it would be paid for again on every run.
        raise InvalidLine(f"the id holds a lone surrogate ({text[exc.start]!r} at character "
                          f"{exc.start}), which cannot be stored: give the line another "
                          "id") from None
    return text


def parse_object(obj: Any, number: int, options: InputOptions) -> tuple[str, dict[str, Any]]:
    if not isinstance(obj, dict):
        raise InvalidLine("each line must be a JSON object")
    if "body" in obj or "url" in obj or "method" in obj:
        return _from_batch_line(obj, options)
    return _from_simple_line(obj, number, options)


def _from_batch_line(obj: dict[str, Any], options: InputOptions) -> tuple[str, dict[str, Any]]:
    if "custom_id" not in obj:
        raise InvalidLine("missing 'custom_id'")
    cid = obj["custom_id"]
    if not isinstance(cid, str) or not cid.strip():
        raise InvalidLine("'custom_id' must be a non-empty string")
    method = obj.get("method", "POST")
    if method != "POST":
        raise InvalidLine(f"'method' must be POST, got {method!r}", cid)
    url = obj.get("url", CHAT_URL)
    if url != CHAT_URL:
        raise InvalidLine(f"'url' must be {CHAT_URL!r}, got {url!r}", cid)
    body = obj.get("body")
    if not isinstance(body, dict):
        raise InvalidLine("missing 'body' object", cid)
    return cid, _apply_defaults(dict(body), options)


def _from_simple_line(obj: dict[str, Any], number: int, options: InputOptions
                      ) -> tuple[str, dict[str, Any]]:
    unknown = sorted(k for k in obj if k not in _SIMPLE_KEYS and k not in _PARAM_NAMES)
    if unknown:
        raise InvalidLine(f"unknown field(s) {', '.join(map(repr, unknown))}: a line holds "
                       "'prompt' or 'messages', optionally 'id', 'system', 'model' and "
                       "request parameters")
    raw_id = obj.get("custom_id", obj.get("id"))
    cid = _custom_id(raw_id) if raw_id is not None else f"line-{number}"
    if ("prompt" in obj) == ("messages" in obj):
        raise InvalidLine("give either 'prompt' or 'messages'", cid)
    if "prompt" in obj:
        prompt = obj["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidLine("'prompt' must be a non-empty string", cid)
        messages: Any = [{"role": "user", "content": prompt}]
    else:
        messages = obj["messages"]
    system = obj.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise InvalidLine("'system' must be a string", cid)
        if isinstance(messages, list):
            messages = [{"role": "system", "content": system}, *messages]
    body: dict[str, Any] = {k: v for k, v in obj.items() if k in _PARAM_NAMES}
    if "model" in obj:
        body["model"] = obj["model"]
    body["messages"] = messages
    return cid, _apply_defaults(body, options)


def parse_prompt(text: str, cid: str, options: InputOptions) -> tuple[str, dict[str, Any]]:
    if not text.strip():
        raise InvalidLine("the prompt is empty", cid)
    return cid, _apply_defaults({"messages": [{"role": "user", "content": text}]}, options)
