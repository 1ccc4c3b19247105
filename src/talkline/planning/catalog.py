"""The model catalog: context windows, output limits and prices per model.

The data ships in `talkline/data/models.toml` (each entry says where its values come from
and when they were read); `[catalog.MODEL]` tables in config.toml override fields or add
models. Names resolve in this order: the exact name, an entry's `aliases`, then the name
without a provider prefix (`openai/gpt-4o`) and without a date suffix (`gpt-4o-2024-08-06`,
`gpt-4-0613`), so dated snapshots share their family's entry unless they have their own.

```python
from talkline.planning.catalog import lookup
info = lookup("gpt-4o-2024-08-06")      # ModelInfo(name="gpt-4o", context_window=128000, ...)
```
Prices are USD per million tokens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings.toml import load_toml

__all__ = ["INPUT_KINDS", "PRICE_FIELDS", "Catalog", "ModelInfo", "PriceTier", "default_catalog",
           "lookup", "model_api", "model_deadline"]

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "models.toml"

PRICE_FIELDS: tuple[str, ...] = (
    "input",
    "cached_input",
    "output",
    "batch_input",
    "batch_output",
    "batch_cached_input",
)
_INT_FIELDS = ("context_window", "max_input", "max_output", "deadline")
_DATE_FIELDS = ("read_on", "retired", "retires")
_TEXT_FIELDS = ("source", "note", "image_rule", "successor")
_FIELDS = (*_INT_FIELDS, *PRICE_FIELDS, *_DATE_FIELDS, *_TEXT_FIELDS, "aliases", "input_kinds",
           "api", "reasoning", "tiers")
APIS = ("chat", "responses", "completions")
INPUT_KINDS = ("text", "image", "file", "audio")

_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class PriceTier:
    """Prices for a request whose input tokens are more than `above` (gpt-5.4's long
    context: above 272,000 input tokens the whole request is priced at the tier). A price
    left None is the model's own."""

    above: int
    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    batch_cached_input: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What the catalog knows of one model. A field is None when it is not known."""

    name: str
    context_window: int | None = None
    max_input: int | None = None  # the most input tokens inside the window (gpt-5: 272,000)
    max_output: int | None = None
    deadline: int | None = None  # seconds a request may take, for a slow model (-pro)
    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    batch_cached_input: float | None = None
    read_on: str | None = None
    source: str | None = None
    note: str | None = None
    aliases: tuple[str, ...] = field(default=())
    input_kinds: tuple[str, ...] | None = None  # what it takes in; None: not known
    image_rule: str | None = None  # how its images are counted: a key of [image_rules]
    api: str | None = None  # the endpoint it needs: "responses" (-pro, -codex), else chat
    reasoning: bool = False  # a reasoning model: its summary is asked for (responses)
    retired: str | None = None  # YYYY-MM-DD: shut down by its provider on that day
    retires: str | None = None  # YYYY-MM-DD: a shutdown announced for that day
    successor: str | None = None  # the replacement its provider names
    tiers: tuple[PriceTier, ...] = field(default=())  # prices above N input tokens

    @property
    def prompt_limit(self) -> int | None:
        """The most input tokens a request may hold: min(max_input, context_window)."""
        limits = [x for x in (self.max_input, self.context_window) if x]
        return min(limits) if limits else None

    def tier_for(self, prompt_tokens: int) -> PriceTier | None:
        """The price tier a request of `prompt_tokens` input tokens falls in, or None."""
        over = [t for t in self.tiers if prompt_tokens > t.above]
        return max(over, key=lambda t: t.above) if over else None

    def accepts(self, kind: str) -> bool:
        """Whether the model takes `kind` in; True when the catalog does not say."""
        return self.input_kinds is None or kind in self.input_kinds

    @property
    def has_prices(self) -> bool:
        """Whether a cost can be computed (input and output prices are known)."""
        return self.input is not None and self.output is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        out["input_kinds"] = list(self.input_kinds) if self.input_kinds is not None else None
        out["tiers"] = [asdict(t) for t in self.tiers]
        return out


def _entry(name: str, spec: Mapping[str, Any], where: str, base: ModelInfo | None
           ) -> ModelInfo:
    """Validate one table and apply it over `base` (or a blank entry)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a table of model fields")
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"Unknown field(s) {', '.join(map(repr, unknown))} in {where}",
            hint=f"Known fields: {', '.join(_FIELDS)}.",
        )
    values: dict[str, Any] = _values(base) if base is not None else {}
    values["name"] = name
    values["aliases"] = tuple(values.get("aliases") or ())
    for key, value in spec.items():
        if key in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{key} in {where} must be a positive whole number, "
                                  f"got {value!r}")
            values[key] = value
        elif key in PRICE_FIELDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{key} in {where} must be a price in USD per million "
                                  f"tokens (a number, 0 or more), got {value!r}")
            values[key] = float(value)
        elif key == "aliases":
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise ConfigError(f"aliases in {where} must be a list of names")
            values[key] = tuple(value)
        elif key == "api":
            if value not in APIS:
                raise ConfigError(f"api in {where} must be one of "
                                  f"{', '.join(map(repr, APIS))}, got {value!r}")
            values[key] = value
        elif key == "reasoning":
            if not isinstance(value, bool):
                raise ConfigError(f"reasoning in {where} must be true or false, got "
                                  f"{value!r}")
            values[key] = value
        elif key in _DATE_FIELDS:
            values[key] = _date(value, key, where)
        elif key == "tiers":
            values[key] = _tiers(value, where)
        elif key == "input_kinds":
            if not isinstance(value, list) or not all(v in INPUT_KINDS for v in value):
                raise ConfigError(f"input_kinds in {where} must be a list of "
                                  f"{', '.join(map(repr, INPUT_KINDS))}, got {value!r}")
            values[key] = tuple(value)
        else:
            values[key] = str(value)
    return ModelInfo(**values)


def _values(info: ModelInfo) -> dict[str, Any]:
    """An entry's fields as they are (`asdict` would turn its tiers into dicts)."""
    return {f.name: getattr(info, f.name) for f in fields(info)}


def _date(value: Any, key: str, where: str) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"{key} in {where} must be a date (YYYY-MM-DD), got {value!r}"
                          ) from None


def _tiers(value: Any, where: str) -> tuple[PriceTier, ...]:
    hint = 'e.g. tiers = [{above = 272000, input = 5.0, output = 22.5}]'
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise ConfigError(f"tiers in {where} must be a list of tables", hint=hint)
    out = []
    for tier in value:
        above = tier.get("above")
        if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
            raise ConfigError(f"each tier in {where} needs `above`, a positive whole number "
                              f"of input tokens, got {above!r}", hint=hint)
        prices: dict[str, float] = {}
        for key, price in tier.items():
            if key == "above":
                continue
            if key not in PRICE_FIELDS:
                raise ConfigError(f"Unknown field {key!r} in a tier in {where}",
                                  hint=f"A tier takes `above` and {', '.join(PRICE_FIELDS)}.")
            if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
                raise ConfigError(f"{key} in a tier in {where} must be a price in USD per "
                                  f"million tokens (a number, 0 or more), got {price!r}")
            prices[key] = float(price)
        out.append(PriceTier(above=above, **prices))
    return tuple(sorted(out, key=lambda t: t.above))


class Catalog:
    """Models by name, with alias resolution. Build one with `Catalog.load`."""

    def __init__(self, models: Mapping[str, ModelInfo],
                 image_rules: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._models = {name.lower(): info for name, info in models.items()}
        self.image_rules: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (image_rules or {}).items()}
        self._aliases: dict[str, str] = {}
        for name, info in self._models.items():
            for alias in info.aliases:
                self._aliases.setdefault(alias.lower(), name)

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        path: Path | None = None,
        where: str = "config.toml",
    ) -> Catalog:
        """The shipped catalog with `overrides` (config.toml's `[catalog]` table) applied.
        Values come in; this module never reads the settings (`planning.user_catalog`
        builds a run's catalog from them).

        An override of a known model (or of a name that resolves to one, such as a dated
        snapshot) starts from that model's values; a new name starts blank.
        """
        data_path = path or DATA_FILE
        raw = load_toml(data_path)
        models: dict[str, ModelInfo] = {}
        for name, spec in (raw.get("models") or {}).items():
            models[name] = _entry(name, spec, f"[models.{name}] in {data_path}", None)
        rules = raw.get("image_rules") or {}
        catalog = cls(models, rules)
        if not overrides:
            return catalog
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"[catalog] in {where} must be a table of [catalog.MODEL] tables")
        for name, spec in overrides.items():
            base_name = catalog.resolve(name)
            base = catalog._models.get(base_name) if base_name else None
            info = _entry(name, spec, f"[catalog.{name}] in {where}", base)
            if base is not None and base_name != name.lower():
                info = ModelInfo(**{**_values(info), "aliases": ()})
            models[base_name if base_name == name.lower() else name] = _with_source(info, spec)
            catalog = cls(models, rules)
        return catalog

    def resolve(self, model: str) -> str | None:
        """The catalog name `model` stands for, or None."""
        name = model.strip().lower()
        if name.startswith("ft:"):
            return name if name in self._models else None  # fine-tunes are priced apart
        candidates = [name]
        if "/" in name:
            candidates.append(name.rsplit("/", 1)[-1])
        for cand in candidates:
            while True:
                if cand in self._models:
                    return cand
                if cand in self._aliases:
                    return self._aliases[cand]
                stripped = _DATE_SUFFIX.sub("", cand)
                if stripped == cand:
                    break
                cand = stripped
        return None

    def lookup(self, model: str) -> ModelInfo | None:
        """The entry for `model` (after alias resolution), or None when unknown."""
        name = self.resolve(model)
        return self._models[name] if name is not None else None

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.resolve(model) is not None

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(sorted(self._models.values(), key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._models)


def _with_source(info: ModelInfo, spec: Mapping[str, Any]) -> ModelInfo:
    if "source" in spec:
        return info
    values = _values(info)
    values["source"] = "config.toml"
    values["read_on"] = spec.get("read_on") if "read_on" in spec else None
    return ModelInfo(**values)


_default: Catalog | None = None


def default_catalog() -> Catalog:
    """The shipped catalog without user overrides (loaded once)."""
    global _default
    if _default is None:
        _default = Catalog.load()
    return _default


def lookup(model: str, *, catalog: Catalog | None = None) -> ModelInfo | None:
    """`Catalog.lookup` on `catalog`, or on the shipped one."""
    return (catalog or default_catalog()).lookup(model)


def model_deadline(model: str, overrides: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> int | None:
    """The catalog's `deadline` for `model` (a slow `-pro` model), None when it has none."""
    try:
        catalog = Catalog.load(overrides) if overrides else default_catalog()
    except ConfigError:
        catalog = default_catalog()
    info = catalog.lookup(model)
    return info.deadline if info is not None else None


def model_api(model: str, overrides: Mapping[str, Mapping[str, Any]] | None = None
              ) -> tuple[str | None, bool]:
    """The catalog's `api` for `model` (None: not said, so chat) and whether it marks the
    model as a reasoning model."""
    try:
        catalog = Catalog.load(overrides) if overrides else default_catalog()
    except ConfigError:
        catalog = default_catalog()
    info = catalog.lookup(model)
    return (info.api, info.reasoning) if info is not None else (None, False)
