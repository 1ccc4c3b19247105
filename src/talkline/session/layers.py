"""What a request is made of, layer over layer: the values given now (command-line flags),
then what the conversation stored, then the settings (environment, config file, defaults).

One function, `resolve_request`, applies that order to the model, the system prompt and
every request parameter, for a new conversation (no stored layer) and a continued one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..types import ChatParams

if TYPE_CHECKING:
    from ..settings import Settings as Settings
    from ..store import Conversation

__all__ = ["Given", "ResolvedRequest", "over_template", "resolve_request"]

_MAX_FIELDS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True)
class Given:
    """Only what was given now. `max_tokens` is kept apart: whether it is sent as
    `max_tokens` or `max_completion_tokens` depends on the model, known once resolved."""

    model: str | None = None
    system: str | None = None
    params: ChatParams = field(default_factory=ChatParams)
    max_tokens: int | None = None


def over_template(given: Given, template: Given) -> Given:
    """The flags given now over a template's values (`--template`): together they are
    what was given now, above the conversation's stored values and the settings."""
    params = template.params.to_dict()
    max_tokens = template.max_tokens
    mine = given.params.to_dict()
    if given.max_tokens is not None or any(name in mine for name in _MAX_FIELDS):
        max_tokens = None  # a cap given now replaces the template's
        for name in _MAX_FIELDS:
            params.pop(name, None)
    _update(params, mine)
    return Given(model=given.model or template.model,
                 system=given.system if given.system is not None else template.system,
                 params=ChatParams.from_dict(params),
                 max_tokens=given.max_tokens if given.max_tokens is not None else max_tokens)


@dataclass(frozen=True)
class ResolvedRequest:
    model: str
    system: str | None
    params: ChatParams
    # A continued conversation given a different system prompt: the one it replaces
    # ("" when there was none). None when nothing was replaced.
    replaced_system: str | None = None

    @property
    def system_replaced(self) -> bool:
        return self.replaced_system is not None


def resolve_request(given: Given, stored: Conversation | None,
                    settings: Settings) -> ResolvedRequest:
    """Given now > stored with the conversation > settings, for each value on its own."""
    model = given.model or (stored.model if stored is not None else None) or settings.model
    stored_system = stored.system if stored is not None else None
    if given.system is not None:
        system: str | None = given.system or None
    elif stored_system:
        system = stored_system
    else:
        system = settings.system
    replaced = (stored_system or "") if (
        stored is not None and given.system is not None and system != stored_system
    ) else None

    layers = [settings.params.to_dict(), dict(stored.params) if stored is not None else {},
              given.params.to_dict()]
    merged: dict[str, Any] = {}
    for layer in layers:
        layer.pop("model", None)
        if any(name in layer for name in _MAX_FIELDS):
            for name in _MAX_FIELDS:  # a cap given in one layer replaces the cap below it
                merged.pop(name, None)
        _update(merged, layer)
    from ..planning.preflight import uses_max_completion_tokens as uses_max_completion_tokens

    if given.max_tokens is not None:
        for name in _MAX_FIELDS:
            merged.pop(name, None)
        wanted = "max_completion_tokens" if uses_max_completion_tokens(model) else "max_tokens"
        merged[wanted] = given.max_tokens
    elif "max_tokens" in merged and uses_max_completion_tokens(model):
        # A cap stored for another model: o-series and gpt-5 refuse `max_tokens`.
        merged["max_completion_tokens"] = merged.pop("max_tokens")
    return ResolvedRequest(model, system, ChatParams.from_dict(merged), replaced)


def _update(merged: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for name, value in layer.items():
        if value is None:
            continue
        if name == "extra_body" and isinstance(value, Mapping):
            merged[name] = {**dict(merged.get(name) or {}), **dict(value)}
        else:
            merged[name] = value
