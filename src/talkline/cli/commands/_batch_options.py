"""The options the `talkline batch` commands add to the shared request options, and the
defaults that differ from a single prompt's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .options import BASE_URL_HELP as BASE_URL_HELP

__all__ = ["RUN_RETRIES", "SUBMIT_RETRIES", "connection_options", "default_output",
           "input_flags", "retries_default", "with_budget"]

F = TypeVar("F", bound=Callable[..., Any])


def input_flags(func: F) -> F:
    for option in reversed([
        click.option("--text", "as_text", is_flag=True, help="One prompt per line of plain text."),
        click.option("--column", help="CSV input: the column holding the prompt."),
        click.option("--id-column", help="CSV input: the column holding each row's id."),
    ]):
        func = option(func)
    return func


def with_budget(func: F) -> F:
    """`--budget` comes with the shared request options when they have it."""
    names = {getattr(p, "name", None) for p in getattr(func, "__click_params__", ())}
    if "budget" in names:
        return func
    return click.option("--budget", type=float, metavar="USD",
                        help="Stop before the run could spend more than this.")(func)


RUN_RETRIES = 8  # a batch should not lose lines to transient faults
SUBMIT_RETRIES = 4  # uploads and reads of the Batch API


def retries_default(default: int) -> Callable[[F], F]:
    """This command's own default for the shared `--retries`, stated in its help."""

    def apply(func: F) -> F:
        for param in getattr(func, "__click_params__", ()):
            if param.name == "retries":
                param.default = default
                param.help = f"Retries after a transient failure (default {default})."
        return func

    return apply


def connection_options(func: F) -> F:
    for option in reversed([
        click.option("--base-url", help=BASE_URL_HELP),
        click.option("--key", "api_key", help="API key (prefer OPENAI_API_KEY or `keys set`)."),
    ]):
        func = option(func)
    return func


def default_output(input_path: Path) -> Path:
    """INPUT.results.jsonl next to the input (`q.csv` -> `q.csv.results.jsonl`)."""
    return input_path.with_name(input_path.name + ".results.jsonl")
