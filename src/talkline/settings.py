"""Settings: flags > environment > config file > defaults, and the key store.

Paths: `TALKLINE_HOME` holds everything (config.toml, keys.json, talkline.db) when set;
otherwise the platform's user config and data directories are used.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .types import ChatParams, params_from_mapping

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "KeyStore", "Paths", "Settings", "redact"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_MODEL = "local"


def redact(key: str | None) -> str:
    """`sk-...abcd`: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    if len(key) <= 12:
        return "***"
    prefix = key[:3] if key.startswith("sk-") else ""
    return f"{prefix}...{key[-4:]}"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def keys_file(self) -> Path:
        return self.config_dir / "keys.json"

    @property
    def database(self) -> Path:
        return self.data_dir / "talkline.db"

    @property
    def input_history(self) -> Path:
        return self.data_dir / "input-history"

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get("TALKLINE_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root, root)
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir("talkline", appauthor=False)),
            Path(platformdirs.user_data_dir("talkline", appauthor=False)),
        )

    def ensure_private_dir(self, path: Path) -> Path:
        """Create a directory readable by the user only (0700)."""
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            path.chmod(0o700)
        except OSError:
            pass
        return path


class KeyStore:
    """API keys by name in a JSON file with mode 0600. Values are never printed."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.path = paths.keys_file

    def _load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"Cannot read the key file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ConfigError(
                f"The key file {self.path} is not valid JSON (line {_line(exc)})",
                hint="Fix or delete it, then run: talkline keys set openai",
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"The key file {self.path} must hold a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def names(self) -> list[str]:
        return sorted(self._load())

    def set(self, name: str, value: str) -> None:
        value = value.strip()
        if not value:
            raise ConfigError("The key is empty; nothing was stored.")
        if not name or any(c.isspace() for c in name):
            raise ConfigError(f"A key name must be one word, got {name!r}")
        data = self._load()
        data[name] = value
        self._write(data)

    def remove(self, name: str) -> bool:
        data = self._load()
        if name not in data:
            return False
        del data[name]
        self._write(data)
        return True

    def _write(self, data: dict[str, str]) -> None:
        self.paths.ensure_private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


def _line(exc: ValueError) -> int:
    return int(getattr(exc, "lineno", 0) or 0)


def load_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml; a syntax error names the file and the line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
        return data
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 7)"; lift the line to the front.
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        if line is None:
            import re

            m = re.search(r"line (\d+)", msg)
            line = int(m.group(1)) if m else None
        where = f"{path}, line {line}" if line else str(path)
        raise ConfigError(
            f"Malformed config file {where}: {msg}",
            hint="Fix that line (TOML syntax), or run `talkline config path` to find the file.",
        ) from None


_SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "base_url": str,
    "system": str,
    "retries": int,
    "idle_timeout": (int, float),
    "connect_timeout": (int, float),
    "timeout": (int, float),
    "fallbacks": list,
    "log": bool,
    "rpm": (int, float),
    "tpm": (int, float),
    "key_name": str,
    "daily_budget": (int, float),
    "monthly_budget": (int, float),
    "context_strategy": str,
}
CONTEXT_STRATEGIES = ("truncate", "summarize", "error")


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run. `api_key` is never shown: use `redacted()`."""

    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    key_source: str = "none"
    system: str | None = None
    params: ChatParams = field(default_factory=ChatParams)
    retries: int = 2
    idle_timeout: float = 30.0
    connect_timeout: float = 5.0
    timeout: float = 600.0
    fallbacks: tuple[str, ...] = ()
    rpm: float | None = None
    tpm: float | None = None
    log: bool = True
    local_models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    catalog_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    daily_budget: float | None = None
    monthly_budget: float | None = None
    budget: float | None = None  # --budget: this command's limit, replacing the others
    context_strategy: str = "truncate"
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
            "fallbacks": list(self.fallbacks),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "log": self.log,
            "local_models": {k: dict(v) for k, v in self.local_models.items()},
            "daily_budget": self.daily_budget,
            "monthly_budget": self.monthly_budget,
            "context_strategy": self.context_strategy,
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
        fallbacks: tuple[str, ...] | list[str] | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        log: bool | None = None,
        budget: float | None = None,
        context_strategy: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Flags (these arguments) > environment > config.toml > defaults."""
        env = os.environ if environ is None else environ
        paths = Paths.resolve(env)
        file_values = load_config_file(paths.config_file)
        conf = {k: v for k, v in file_values.items() if not isinstance(v, dict)}
        for name, value in conf.items():
            expected = _SETTING_TYPES.get(name)
            if expected is None:
                raise ConfigError(
                    f"Unknown setting {name!r} in {paths.config_file}",
                    hint=f"Known settings: {', '.join(sorted(_SETTING_TYPES))}, "
                    "and the tables [params], [models.NAME], [catalog.MODEL].",
                )
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(
                    f"Setting {name!r} in {paths.config_file} has the wrong type: {value!r}"
                )
        catalog_table = file_values.get("catalog") or {}
        if not isinstance(catalog_table, dict):
            raise ConfigError(f"[catalog] in {paths.config_file} must be a table")
        local_models = dict(file_values.get("models") or {})
        for name, spec in local_models.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"[models.{name}] in {paths.config_file} must be a table")

        # The key: flag, then environment, then the key store.
        key_source = "none"
        key: str | None = api_key
        if key:
            key_source = "--key"
        elif env.get("OPENAI_API_KEY"):
            key, key_source = env["OPENAI_API_KEY"], "OPENAI_API_KEY"
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
            fallbacks=tuple(fallbacks if fallbacks else conf.get("fallbacks", ())),
            rpm=rpm if rpm is not None else conf.get("rpm"),
            tpm=tpm if tpm is not None else conf.get("tpm"),
            log=log if log is not None else bool(conf.get("log", True)),
            local_models=local_models,
            catalog_overrides=catalog_table,
            daily_budget=conf.get("daily_budget"),
            monthly_budget=conf.get("monthly_budget"),
            budget=budget,
            context_strategy=context_strategy or str(conf.get("context_strategy",
                                                               cls.context_strategy)),
            paths=paths,
            config_file_used=paths.config_file if file_values else None,
            using_default_local=using_local,
        )
        settings.check()
        return settings

    def catalog(self) -> Any:
        """The model catalog with this user's `[catalog.MODEL]` overrides; local GGUF
        models registered under `[models.NAME]` are free."""
        from .planning.catalog import Catalog as Catalog

        overrides: dict[str, Any] = {
            name: {"context_window": int(spec.get("n_ctx", 8192)), "input": 0.0,
                   "output": 0.0}
            for name, spec in self.local_models.items() if name != LOCAL_MODEL
        }
        overrides.update({k: dict(v) for k, v in self.catalog_overrides.items()})
        return Catalog.load(overrides or None, where=str(self.paths.config_file))

    def check(self) -> None:
        if self.context_strategy not in CONTEXT_STRATEGIES:
            raise ConfigError(
                f"context strategy must be one of {', '.join(CONTEXT_STRATEGIES)}, "
                f"got {self.context_strategy!r}"
            )
        for name in ("daily_budget", "monthly_budget", "budget"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be positive, got {value}")
        if self.retries < 0 or self.retries > 100:
            raise ConfigError(f"retries must be between 0 and 100, got {self.retries}")
        if self.idle_timeout <= 0:
            raise ConfigError(f"idle timeout must be positive, got {self.idle_timeout:g}")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"base URL must start with http:// or https://, got {self.base_url!r}",
                hint="For example: --base-url http://localhost:11434/v1",
            )

    def require_key(self) -> None:
        """Refuse now, before anything is sent, a remote model on OpenAI without a key."""
        if not self.is_local_model():
            from .wire.keycheck import require_key as require_key

            require_key(self.base_url, self.api_key)
