"""`Settings`: flags > environment > config file > defaults, resolved once per run."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import ChatParams, params_from_mapping
from .checks import check_file, check_value
from .defaults import (
    CONNECT_TIMEOUT,
    DEADLINE,
    DEFAULT_BASE_URL,
    DEFAULT_CONTEXT_STRATEGY,
    DEFAULT_MODEL,
    DEFAULT_RETRIES,
    IDLE_TIMEOUT,
    LOCAL_MODEL,
    MAX_BODY_BYTES,
    MAX_EVENT_BYTES,
    MAX_STDIN_BYTES,
    READ_TIMEOUT,
)
from .keys import KeyStore, clean_key
from .paths import Paths
from .redact import redact
from .toml import load_config_file

__all__ = ["Settings"]

_KEY_FLAG_HINT = "Pass the key again with --key, without extra characters."
_KEY_ENV_HINT = ("Set OPENAI_API_KEY again without extra characters (export OPENAI_API_KEY=...), "
                 "or unset it and run: talkline keys set openai")

_CHECKED = ("retries", "idle_timeout", "connect_timeout", "timeout", "rpm", "tpm",
            "daily_budget", "monthly_budget", "budget", "context_strategy", "base_url",
            "deadline", "max_event_bytes", "max_body_bytes", "max_stdin_bytes", "api")


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run. `api_key` is never shown: use `redacted()`."""

    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    key_source: str = "none"
    system: str | None = None
    params: ChatParams = field(default_factory=ChatParams)
    retries: int = DEFAULT_RETRIES
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    timeout: float = READ_TIMEOUT
    deadline: float = DEADLINE  # seconds one request may take, its retries included
    deadline_given: bool = False  # by --deadline or config.toml (else a slow model's applies)
    max_event_bytes: int = MAX_EVENT_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    max_stdin_bytes: int = MAX_STDIN_BYTES
    fallbacks: tuple[str, ...] = ()
    rpm: float | None = None
    tpm: float | None = None
    log: bool = True
    hide_reasoning: bool = False  # reasoning text not shown on stderr (--hide-reasoning)
    local_models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    catalog_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # `[servers.NAME]`: the upstreams of `talkline serve` (base_url, key_env or key_name,
    # models); never a key itself.
    servers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    daily_budget: float | None = None
    monthly_budget: float | None = None
    budget: float | None = None  # --budget: this command's limit, replacing the others
    context_strategy: str = DEFAULT_CONTEXT_STRATEGY
    api: str | None = None  # "chat" or "responses"; None: the catalog's, else chat
    server_state: bool = False  # --server-state: the server keeps the conversation
    reasoning_model: bool = False  # the catalog's `reasoning`: ask for its summary
    paths: Paths = field(default_factory=Paths.resolve)
    config_file_used: Path | None = None
    using_default_local: bool = False
    warnings: tuple[str, ...] = ()

    def is_local_model(self, model: str | None = None) -> bool:
        name = model or self.model
        return name == LOCAL_MODEL or name in self.local_models

    def redacted(self) -> dict[str, Any]:
        """Everything, printable: the key replaced by `sk-...abcd`."""
        out: dict[str, Any] = {
            "model": self.model,
            "base_url": self.base_url,
            "api_key": redact(self.api_key),
            "key_source": self.key_source,
            "system": self.system,
            "params": self.params.to_dict(),
            "retries": self.retries,
            "idle_timeout": self.idle_timeout,
            "connect_timeout": self.connect_timeout,
            "timeout": self.timeout,
            "deadline": self.deadline,
            "max_event_bytes": self.max_event_bytes,
            "max_body_bytes": self.max_body_bytes,
            "max_stdin_bytes": self.max_stdin_bytes,
            "fallbacks": list(self.fallbacks),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "log": self.log,
            "hide_reasoning": self.hide_reasoning,
            "local_models": {k: dict(v) for k, v in self.local_models.items()},
            "servers": {k: dict(v) for k, v in self.servers.items()},
            "daily_budget": self.daily_budget,
            "monthly_budget": self.monthly_budget,
            "context_strategy": self.context_strategy,
            "api": self.api or "chat (or the catalog's, per model)",
            "config_file": str(self.paths.config_file),
            "data_dir": str(self.paths.data_dir),
            "database": str(self.paths.database),
        }
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def resolve(
        cls,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        retries: int | None = None,
        idle_timeout: float | None = None,
        deadline: float | None = None,
        fallbacks: tuple[str, ...] | list[str] | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        log: bool | None = None,
        budget: float | None = None,
        context_strategy: str | None = None,
        api: str | None = None,
        server_state: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Flags (these arguments) > environment > config.toml > defaults."""
        env = os.environ if environ is None else environ
        paths = Paths.resolve(env)
        file_values = load_config_file(paths.config_file)
        check_file(file_values, paths.config_file)
        conf = {k: v for k, v in file_values.items() if not isinstance(v, dict)}
        catalog_table = dict(file_values.get("catalog") or {})
        local_models = dict(file_values.get("models") or {})

        # The key: flag, then environment, then the key store.
        key_source = "none"
        # Each is stripped and checked where it is read (`clean_key`), never shown.
        key: str | None = clean_key(api_key, "--key", hint=_KEY_FLAG_HINT) if api_key \
            else None
        env_key = env.get("OPENAI_API_KEY")
        if key:
            key_source = "--key"
        elif env_key and env_key.strip():
            key = clean_key(env_key, "OPENAI_API_KEY", hint=_KEY_ENV_HINT)
            key_source = "OPENAI_API_KEY"
        else:
            key_name = str(conf.get("key_name", "openai"))
            stored = KeyStore(paths).get(key_name)
            if stored:
                key, key_source = stored, f"key store ({key_name})"

        url = base_url or env.get("OPENAI_BASE_URL") or conf.get("base_url")
        chosen_model = model or env.get("TALKLINE_MODEL") or conf.get("model")
        using_local = False
        if not chosen_model:
            if not key and not url:
                chosen_model, using_local = LOCAL_MODEL, True
            else:
                chosen_model = DEFAULT_MODEL

        merged_params: dict[str, Any] = dict(file_values.get("params") or {})
        merged_params.update({k: v for k, v in (params or {}).items() if v is not None})
        try:
            chat_params = params_from_mapping(merged_params)
        except ConfigError as exc:
            raise ConfigError(f"{exc.message} (check [params] in {paths.config_file} "
                              "or the command-line flags)") from None

        settings = cls(
            model=str(chosen_model),
            base_url=str(url or DEFAULT_BASE_URL).rstrip("/"),
            api_key=key or None,
            key_source=key_source,
            system=system if system is not None else conf.get("system"),
            params=chat_params,
            retries=retries if retries is not None else int(conf.get("retries", cls.retries)),
            idle_timeout=float(idle_timeout if idle_timeout is not None
                               else conf.get("idle_timeout", cls.idle_timeout)),
            connect_timeout=float(conf.get("connect_timeout", cls.connect_timeout)),
            timeout=float(conf.get("timeout", cls.timeout)),
            deadline=deadline if deadline is not None else conf.get("deadline", cls.deadline),
            deadline_given=deadline is not None or "deadline" in conf,
            max_event_bytes=conf.get("max_event_bytes", cls.max_event_bytes),
            max_body_bytes=conf.get("max_body_bytes", cls.max_body_bytes),
            max_stdin_bytes=conf.get("max_stdin_bytes", cls.max_stdin_bytes),
            fallbacks=tuple(fallbacks if fallbacks else conf.get("fallbacks", ())),
            rpm=rpm if rpm is not None else conf.get("rpm"),
            tpm=tpm if tpm is not None else conf.get("tpm"),
            log=log if log is not None else bool(conf.get("log", True)),
            hide_reasoning=bool(conf.get("hide_reasoning", False)),
            local_models=local_models,
            catalog_overrides=catalog_table,
            servers=dict(file_values.get("servers") or {}),
            daily_budget=conf.get("daily_budget"),
            monthly_budget=conf.get("monthly_budget"),
            budget=budget,
            context_strategy=context_strategy or str(conf.get("context_strategy",
                                                               cls.context_strategy)),
            api=api or env.get("TALKLINE_API") or conf.get("api"),
            server_state=bool(server_state),
            paths=paths,
            config_file_used=paths.config_file if file_values else None,
            using_default_local=using_local,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse a value out of its range, wherever it came from (flags, environment)."""
        for name in _CHECKED:
            check_value(name, getattr(self, name))
