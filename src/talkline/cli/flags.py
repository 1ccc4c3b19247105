"""The request flags of one command line, typed once.

Click hands a command its options as loose values; `RequestFlags.parse` turns them into
one typed value: the request layer given now (`session.layers.Given`, a `ChatParams`
among them) and the connection flags that settle the `Settings`. Nothing downstream reads
the click options again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..session.layers import Given
    from ..settings import Settings

__all__ = ["RequestFlags"]

_PARAM_FLAGS = ("temperature", "top_p", "n", "seed", "presence_penalty", "frequency_penalty",
                "reasoning_effort")


@dataclass(frozen=True)
class RequestFlags:
    """What this command line said about the request and its connection."""

    given: Given
    base_url: str | None = None
    api_key: str | None = None
    retries: int | None = None
    idle_timeout: float | None = None
    deadline: float | None = None
    fallbacks: tuple[str, ...] = field(default=())
    budget: float | None = None
    context_strategy: str | None = None
    schema_notice: str | None = None  # --schema that cannot be strict: why
    api: str | None = None  # --api
    server_state: bool = False  # --server-state

    @classmethod
    def parse(cls, opts: Mapping[str, object]) -> RequestFlags:
        """The flags of `request_options`; a wrong value is a usage error that says which."""
        from ..errors import ConfigError
        from ..session.layers import Given
        from ..types import ChatParams, params_from_mapping

        values: dict[str, object] = {k: opts[k] for k in _PARAM_FLAGS
                                     if opts.get(k) is not None}
        stops = _strings(opts.get("stop"))
        if stops:
            values["stop"] = stops[0] if len(stops) == 1 else list(stops)
        if opts.get("json_mode"):
            values["response_format"] = {"type": "json_object"}
        for pair in _pairs(opts.get("extra_params")):
            values[pair[0]] = pair[1]
        schema_notice = _schema(opts, values)
        max_tokens = _int(opts.get("max_tokens"))
        try:
            params = params_from_mapping(values)
            if max_tokens is not None:
                ChatParams(max_tokens=max_tokens)  # its range, checked now
        except ConfigError as exc:
            raise click.UsageError(exc.message) from None
        given = Given(model=_str(opts.get("model")), system=_str(opts.get("system")),
                      params=params, max_tokens=max_tokens)
        return cls(
            given=given,
            base_url=_str(opts.get("base_url")),
            api_key=_str(opts.get("api_key")),
            retries=_int(opts.get("retries")),
            idle_timeout=_float(opts.get("idle_timeout")),
            deadline=_float(opts.get("deadline")),
            fallbacks=_strings(opts.get("fallbacks")),
            budget=_float(opts.get("budget")),
            context_strategy=_str(opts.get("context_strategy")),
            schema_notice=schema_notice,
            api=_str(opts.get("api")),
            server_state=bool(opts.get("server_state")),
        )

    def settings(self) -> Settings:
        """Settings from these flags, the environment and the config file; with no
        deadline given, the catalog's for a slow model (`deadline` of its entry); with no
        api given, the catalog's for the model (else chat)."""
        from ..planning.catalog import model_api, model_deadline
        from ..settings import Settings

        settings = Settings.resolve(
            model=self.given.model, base_url=self.base_url, api_key=self.api_key,
            system=self.given.system, retries=self.retries, idle_timeout=self.idle_timeout,
            deadline=self.deadline, fallbacks=self.fallbacks or None, budget=self.budget,
            context_strategy=self.context_strategy, api=self.api,
            server_state=self.server_state,
        )
        api, reasoning = model_api(settings.model, settings.catalog_overrides)
        settings = settings.replace(api=settings.api or api, reasoning_model=reasoning)
        if settings.server_state and settings.api != "responses":
            raise click.UsageError("--server-state needs the Responses API: add --api "
                                   "responses (or leave --server-state out)")
        if not settings.deadline_given:
            slow = model_deadline(settings.model, settings.catalog_overrides)
            if slow is not None:
                settings = settings.replace(deadline=float(slow))
        return settings


def _schema(opts: Mapping[str, object], values: dict[str, object]) -> str | None:
    """--schema as the response_format to send; the reason when it cannot be strict."""
    text = _str(opts.get("schema"))
    if text is None:
        if opts.get("schema_multi"):
            raise click.UsageError("--schema-multi needs --schema, e.g. --schema 'name, age "
                                   "int' --schema-multi")
        return None
    if opts.get("json_mode"):
        raise click.UsageError("--schema and --json-mode both ask for JSON: give only "
                               "--schema (it asks for JSON of that shape).")
    from ..errors import SchemaError
    from ..schema import structured

    try:
        spec = structured(text, multi=bool(opts.get("schema_multi")))
    except SchemaError as exc:
        raise click.UsageError(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message
                               ) from None
    values["response_format"] = spec.response_format()
    if spec.strict:
        return None
    return f"schema: cannot be strict: {spec.reason}. Sent non-strict; the reply is checked."


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _pairs(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, (tuple, list)):
        return []
    return [(str(p[0]), str(p[1])) for p in value if isinstance(p, (tuple, list)) and len(p) == 2]
