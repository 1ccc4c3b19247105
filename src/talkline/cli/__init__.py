"""The `talkline` command. Each command group lives in its own module; this one only
routes (`talkline PROMPT` runs the `prompt` command) and maps errors to exit codes:
0 ok, 1 API or network error, 2 usage or config error, 130 interrupted."""

from __future__ import annotations

import sys

import click

from .._version import __version__

__all__ = ["cli", "main"]

# name: (module, attribute, the first paragraph of the command's help). The listing in
# `talkline --help` is drawn from these summaries, so it loads no command module;
# tests/test_cli_app.py checks that each summary is the command's own.
_COMMANDS = {
    "prompt": ("talkline.cli.commands.prompt", "prompt",
               "Send PROMPT (joined with piped stdin) and print the answer."),
    "complete": ("talkline.cli.commands.complete", "complete",
                 "Continue PROMPT (joined with piped stdin) with a text completion (POST "
                 "/v1/completions)."),
    "chat": ("talkline.cli.commands.chat", "chat",
             "Chat interactively, with memory. Every turn is stored (see `talkline history`)."),
    "batch": ("talkline.cli.commands.batch", "batch",
              "Many prompts at once: `run` them here at your rate limit (resumable), or "
              "`submit` them to the provider's Batch API (half price, answers within 24 h)."),
    "history": ("talkline.cli.commands.history", "history", "Stored conversations."),
    "keys": ("talkline.cli.commands.keys", "keys", "Manage stored API keys."),
    "local": ("talkline.cli.commands.local", "local",
              "The embedded offline model (SmolLM2-135M on llama.cpp)."),
    "config": ("talkline.cli.commands.config", "config",
               "Show settings and the config file's location."),
    "models": ("talkline.cli.commands.models", "models",
               "List the server's models (and `local`, the embedded model, when installed)."),
    "tokens": ("talkline.cli.commands.tokens", "tokens",
               "Count the tokens in FILE (or standard input, with `-` or a pipe)."),
    "serve": ("talkline.cli.commands.serve", "serve",
              "One OpenAI-compatible endpoint for every model talkline knows, with its "
              "retries, shared rate limits and fallbacks; every exchange stored."),
    "templates": ("talkline.cli.commands.templates", "templates",
                  "Templates and roles: TOML files used with --template NAME."),
    "usage": ("talkline.cli.commands.usage", "usage",
              "Tokens and cost of stored replies, with a daily bar chart."),
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of `--help`, from the summaries: no command module is imported."""
        listed = [(name, click.Command(name, help=_COMMANDS[name][2]))
                  for name in self.list_commands(ctx)]
        limit = formatter.width - 6 - max(len(name) for name, _ in listed)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in listed])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and _stdin_is_terminal():
            args.insert(0, "chat")  # `talkline` alone on a terminal: the REPL
        elif not args or (args[0] not in _COMMANDS and args[0] not in ("--help", "-h",
                                                                         "--version")):
            self._refuse_mistyped_command(ctx, args)
            args.insert(0, "prompt")
        return super().parse_args(ctx, args)

    def _refuse_mistyped_command(self, ctx: click.Context, args: list[str]) -> None:
        """`talkline histroy` typed at a terminal is a typo, not a question: refuse it
        with the command it was meant to be. Piped or scripted runs, prompts of several
        words and `talkline prompt WORD` are sent as they are."""
        if not args or args[0].startswith("-") or not _stdin_is_terminal():
            return
        word = args[0]
        meant = [name for name in sorted(_COMMANDS) if _one_edit_apart(word, name)]
        if not meant or any(c.isspace() for c in word):
            return
        command = self.get_command(ctx, "prompt")
        assert command is not None
        parsed = command.make_context("prompt", list(args), parent=ctx, resilient_parsing=True)
        if parsed.params.get("prompt") != word or parsed.args:
            return  # more than one positional argument: a prompt (or a usage error)
        import shlex

        raise click.UsageError(
            f'Unknown command "{word}". Did you mean `talkline {meant[0]}`? '
            f"To send it as a prompt: talkline prompt {shlex.quote(word)}",
            ctx,
        )

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("talkline", "[OPTIONS] PROMPT | COMMAND [ARGS]...")


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def _one_edit_apart(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance exactly 1: one insertion, deletion, substitution, or
    swap of two neighbours."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


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
    from .app import App

    app = App()  # the commands write through its Terminal, and so do the errors here
    try:
        rv: object = cli.main(args=argv, prog_name="talkline", standalone_mode=False, obj=app)
    except (click.exceptions.Abort, KeyboardInterrupt):
        app.term.err.write("\nInterrupted.\n")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show(file=app.term.err)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        from ..errors import TalklineError  # not imported on the `--help` path

        if not isinstance(exc, TalklineError):
            raise
        app.term.error(exc)
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
