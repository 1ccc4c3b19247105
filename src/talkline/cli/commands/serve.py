"""`talkline serve`: the OpenAI-compatible gateway (stand-in group until the GATEWAY's
command lands: it holds only the `keys` subgroup)."""

from __future__ import annotations

import click

from .serve_keys import keys


@click.group()
def serve() -> None:
    """An OpenAI-compatible gateway in front of every model talkline knows."""


serve.add_command(keys)
