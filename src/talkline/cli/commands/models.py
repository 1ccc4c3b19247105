"""`talkline models`: the models the server offers, and the embedded one."""

from __future__ import annotations

import click

from ..app import current_app
from .options import BASE_URL_HELP as BASE_URL_HELP


@click.command()
@click.option("--base-url", help=BASE_URL_HELP)
@click.option("--key", "api_key", help="API key.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--catalog", "show_catalog", is_flag=True,
              help="Show the model catalog: context windows, max output, prices.")
@click.option("--stale", is_flag=True,
              help="With --catalog: only the rows read more than 180 days ago.")
def models(base_url: str | None, api_key: str | None, as_json: bool,
           show_catalog: bool, stale: bool) -> None:
    """List the server's models (and `local`, the embedded model, when installed)."""
    from ...client import Client
    from ...settings import Settings as Settings

    settings = Settings.resolve(base_url=base_url, api_key=api_key)
    term = current_app().term
    if stale and not show_catalog:
        raise click.UsageError("--stale lists catalog rows: use it with --catalog.")
    if show_catalog:
        from ...planning.user_catalog import catalog_for as catalog_for
        from .catalog import print_catalog as print_catalog

        print_catalog(as_json, catalog=catalog_for(settings), terminal=term, stale=stale)
        return
    with Client(settings=settings, on_warning=term.warn) as client:
        names = client.models()
    if as_json:
        term.write_json(names)
    else:
        for name in names:
            term.write_line(name)
