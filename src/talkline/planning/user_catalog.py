"""The catalog one run uses: the shipped one, with this user's `[catalog.MODEL]` tables
applied, and the GGUF models registered under `[models.NAME]` priced at nothing.

The only place where the catalog meets `Settings`: `catalog.py` itself takes values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import Catalog, default_catalog

if TYPE_CHECKING:
    from ..settings import Settings as Settings

__all__ = ["catalog_for"]

LOCAL_CONTEXT_WINDOW = 8192  # a registered GGUF without `n_ctx`


def catalog_for(settings: Settings) -> Catalog:
    """The catalog with `settings`' overrides; the shipped one (loaded once) when there
    are none."""
    from ..settings import LOCAL_MODEL

    overrides: dict[str, Any] = {
        name: {"context_window": int(spec.get("n_ctx", LOCAL_CONTEXT_WINDOW)),
               "input": 0.0, "output": 0.0}
        for name, spec in settings.local_models.items() if name != LOCAL_MODEL
    }
    overrides.update({k: dict(v) for k, v in settings.catalog_overrides.items()})
    if not overrides:
        return default_catalog()
    return Catalog.load(overrides, where=str(settings.paths.config_file))
