"""`talkline serve`: the OpenAI-compatible gateway (needs the `serve` extra)."""

from __future__ import annotations

import click

from ...errors import ConfigError
from ..app import current_app
from .serve_keys import keys

_EXTRA = "talkline serve needs the serve extra: pip install 'talkline[serve]'"


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; needs gateway keys).")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="The port (0: any free port; the URL is printed on stderr).")
@click.option("--no-auth", is_flag=True,
              help="Serve without gateway keys (allowed only on a loopback host).")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Let a web page of ORIGIN (e.g. http://localhost:3000) call the gateway; "
                   "repeat for several. Off by default.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, no_auth: bool, cors: tuple[str, ...]
          ) -> None:
    """One OpenAI-compatible endpoint for every model talkline knows, with its retries,
    shared rate limits and fallbacks; every exchange stored.

    \b
    talkline serve                      # http://127.0.0.1:8787/v1
    OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=<gateway key> python app.py
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(_EXTRA) from None
    from ...serve.app import GatewayConfig
    from ...serve.run import serve as run

    app = current_app()
    config = GatewayConfig(settings=app.settings, host=host, port=port, no_auth=no_auth,
                           cors_origins=cors)
    term = app.term

    def announce(url: str) -> None:
        term.status(f"talkline serve: listening on {url}/v1 (Ctrl-C stops it)")
        if no_auth:
            term.status("talkline serve: --no-auth: every request is the owner's")

    run(config, announce)
    term.status("talkline serve: stopped")


serve.add_command(keys)
