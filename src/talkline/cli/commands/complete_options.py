"""The options of `talkline complete`: the text completions endpoint takes fewer request
fields than chat (no system prompt, tools, schema or --api) and three of its own (`--echo`,
`--logprobs`, `--suffix`). The shared ones are worded as in `options`, and parsed by the
same `RequestFlags`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ...settings.defaults import DEFAULT_RETRIES, MAX_RETRIES, MIN_RETRIES
from ...types.completions import MAX_LOGPROBS
from .options import BASE_URL_HELP

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[F], F]] = [
    click.option("-m", "--model",
                 help="Model name, a base or instruct model (default gpt-4o-mini, or "
                      "`local`, the embedded model, with no key and no server; "
                      "TALKLINE_MODEL or config.toml set another)."),
    click.option("--max-tokens", type=int, help="Most tokens to generate (max_tokens)."),
    click.option("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2."),
    click.option("--top-p", type=float, help="Nucleus sampling, 0 to 1."),
    click.option("--stop", multiple=True, help="Stop sequence (repeatable, up to 4)."),
    click.option("-n", "n", type=int, help="Number of completions, 1 to 128."),
    click.option("--seed", type=int, help="Seed for best-effort determinism."),
    click.option("--echo", is_flag=True, help="Print the prompt before the completion."),
    click.option("--logprobs", type=click.IntRange(0, MAX_LOGPROBS), metavar="N",
                 help=f"Also return the log probabilities of the N most likely tokens at "
                      f"each position, 0 to {MAX_LOGPROBS} (see --json)."),
    click.option("--suffix", help="Text that comes after the completion (insert mode, for "
                                  "the models and servers that support it)."),
    click.option("--no-stream", is_flag=True, help="Ask for the whole completion at once."),
    click.option("--json", "as_json", is_flag=True,
                 help="Print the full response (a text_completion object) as JSON."),
    click.option("-u", "--usage", "show_usage", is_flag=True,
                 help="Show tokens after the completion."),
    click.option("--sanitize", is_flag=True,
                 help="Clean control characters from piped output too."),
    click.option("--no-log", is_flag=True, help="Do not store this exchange."),
    click.option("-p", "--param", "extra_params", multiple=True, metavar="NAME VALUE",
                 nargs=2, help="Any other request parameter, e.g. -p presence_penalty 0.5 "
                               "or -p extra_body '{\"best_of\": 3}'."),
    click.option("--base-url", help=BASE_URL_HELP),
    click.option("--key", "api_key", help="API key (prefer OPENAI_API_KEY or `keys set`)."),
    click.option("--retries", type=click.IntRange(MIN_RETRIES, MAX_RETRIES),
                 help=f"Retries after a transient failure, {MIN_RETRIES} to {MAX_RETRIES} "
                      f"(default {DEFAULT_RETRIES})."),
    click.option("--deadline", type=float, metavar="SECONDS",
                 help="Seconds the whole request may take, every retry and fallback "
                      "included (default 600)."),
    click.option("--budget", type=float, metavar="USD",
                 help="Refuse to spend more than this on this command (checked before "
                      "sending, against the worst case)."),
]


def complete_options(func: F) -> F:
    for option in reversed(_OPTIONS):
        func = option(func)
    return func
