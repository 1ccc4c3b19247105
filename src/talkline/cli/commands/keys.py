"""`talkline keys`: store API keys in a 0600 file; names are listed, values never."""

from __future__ import annotations

import sys

import click

from ..app import current_app

_MAX_KEY_INPUT = 64 * 1024


@click.group()
def keys() -> None:
    """Manage stored API keys."""


@keys.command("set")
@click.argument("name")
@click.option("--value", help="The key (default: read without echo, or from piped stdin).")
def keys_set(name: str, value: str | None) -> None:
    """Store an API key under NAME.

    talkline uses the key named `openai` unless config.toml sets `key_name`.
    """
    from ...settings import KeyStore, Paths

    store = KeyStore(Paths.resolve())
    if value is None:
        if sys.stdin is not None and not sys.stdin.isatty():
            # All of it (bounded): a key broken over lines is refused, not cut short.
            value = sys.stdin.read(_MAX_KEY_INPUT)
        else:
            value = click.prompt(f"Enter the key for {name}", hide_input=True)
    store.set(name, value)
    current_app().term.status(f"Stored the key {name!r} in {store.path}")


@keys.command("list")
def keys_list() -> None:
    """List the names of stored keys."""
    from ...settings import KeyStore, Paths

    for name in KeyStore(Paths.resolve()).names():
        current_app().term.write_line(name)


@keys.command("path")
def keys_path() -> None:
    """Print the path of the key file."""
    from ...settings import KeyStore, Paths

    current_app().term.write_line(str(KeyStore(Paths.resolve()).path))


@keys.command("rm")
@click.argument("name")
def keys_rm(name: str) -> None:
    """Remove the stored key NAME."""
    from ...settings import KeyStore, Paths

    if not KeyStore(Paths.resolve()).remove(name):
        raise click.ClickException(f"No key named {name!r}. See: talkline keys list")
    current_app().term.status(f"Removed the key {name!r}")
