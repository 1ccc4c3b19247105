"""The `talkline` command. Each command group lives in its own module; this one only
routes (`talkline PROMPT` runs the `prompt` command) and maps errors to exit codes:
0 ok, 1 API or network error, 2 usage or config error, 130 interrupted."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__

__all__ = ["cli", "main"]

_COMMANDS = {
    "prompt": ("talkline.cli.prompt", "prompt"),
    "chat": ("talkline.cli.chat", "chat"),
    "batch": ("talkline.cli.batch", "batch"),
    "history": ("talkline.cli.history", "history"),
    "keys": ("talkline.cli.keys", "keys"),
    "local": ("talkline.cli.local_cmd", "local"),
    "config": ("talkline.cli.config_cmd", "config"),
    "models": ("talkline.cli.models", "models"),
    "tokens": ("talkline.cli.tokens_cmd", "tokens"),
    "usage": ("talkline.cli.usage_cmd", "usage"),
}


class DefaultGroup(click.Group):
    """`talkline "question"` is `talkline prompt "question"`; commands load lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        import importlib

        module = importlib.import_module(target[0])
        command: click.Command = getattr(module, target[1])
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and sys.stdin is not None and sys.stdin.isatty():
            args.insert(0, "chat")  # `talkline` alone on a terminal: the REPL
        elif not args or (args[0] not in _COMMANDS and args[0] not in ("--help", "-h",
                                                                         "--version")):
            args.insert(0, "prompt")
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("talkline", "[OPTIONS] PROMPT | COMMAND [ARGS]...")


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="talkline")
def cli() -> None:
    """Talk to the ChatGPT API, or any server that speaks its dialect.

    \b
    talkline "What is the capital of France?"
    cat notes.txt | talkline -s "You are a terse editor" "Summarise this"
    talkline --base-url http://localhost:11434/v1 -m llama3.2 "hi"

    With no API key configured, talkline answers with an embedded offline model.
    Run `talkline prompt --help` for every request option.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the command and turns exceptions into exit codes."""
    from ..errors import TalklineError

    try:
        rv: Any = cli.main(args=argv, prog_name="talkline", standalone_mode=False)
    except click.exceptions.Abort:
        sys.stderr.write("\nInterrupted.\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TalklineError as exc:
        from .terminal import Terminal

        Terminal().error(exc)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)
