"""Options shared by the commands that send requests (`prompt`, `chat`, `batch`); they are
parsed once, into `talkline.cli.flags.RequestFlags`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ...settings.defaults import DEFAULT_RETRIES, MAX_RETRIES, MIN_RETRIES

F = TypeVar("F", bound=Callable[..., Any])

BASE_URL_HELP = ("Server base URL (default https://api.openai.com/v1; OPENAI_BASE_URL or "
                 "config.toml set another).")

_REQUEST_OPTIONS: list[Callable[[F], F]] = [
    click.option("-m", "--model",
                 help="Model name (default gpt-4o-mini, or `local`, the embedded model, with "
                      "no key and no server; TALKLINE_MODEL or config.toml set another)."),
    click.option("-s", "--system", help="System prompt."),
    click.option("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2."),
    click.option("--top-p", type=float, help="Nucleus sampling, 0 to 1."),
    click.option("--max-tokens", type=int,
                 help="Most tokens to generate (sent as max_completion_tokens for o-series "
                      "and gpt-5 models, max_tokens otherwise)."),
    click.option("-n", "n", type=int, help="Number of choices, 1 to 128."),
    click.option("--stop", multiple=True, help="Stop sequence (repeatable, up to 4)."),
    click.option("--seed", type=int, help="Seed for best-effort determinism."),
    click.option("--presence-penalty", type=float, help="-2 to 2."),
    click.option("--frequency-penalty", type=float, help="-2 to 2."),
    click.option("--json-mode", is_flag=True,
                 help='Ask for a JSON object (response_format {"type": "json_object"}).'),
    click.option("-p", "--param", "extra_params", multiple=True, metavar="NAME VALUE",
                 nargs=2, help="Any other request parameter, e.g. -p reasoning_effort low "
                                "or -p logit_bias '{\"50256\": -100}'."),
    click.option("--reasoning-effort",
                 type=click.Choice(["none", "minimal", "low", "medium", "high", "xhigh"]),
                 help="How hard a reasoning model thinks (reasoning_effort; on the "
                      "Responses API also asks for its reasoning summary)."),
    click.option("--api", type=click.Choice(["chat", "responses"]),
                 help="The endpoint: chat (/chat/completions) or responses (/responses). "
                      "Default: the catalog's for the model (responses for the -pro and "
                      "-codex models), else chat; TALKLINE_API or config.toml `api` set "
                      "another."),
    click.option("--server-state", is_flag=True,
                 help="Responses API: let the server keep the conversation (store: true, "
                      "previous_response_id); only the new message is sent."),
    click.option("--base-url", help=BASE_URL_HELP),
    click.option("--key", "api_key", help="API key (prefer OPENAI_API_KEY or `keys set`)."),
    click.option("--retries", type=click.IntRange(MIN_RETRIES, MAX_RETRIES),
                 help=f"Retries after a transient failure, {MIN_RETRIES} to {MAX_RETRIES} "
                      f"(default {DEFAULT_RETRIES})."),
    click.option("--idle-timeout", type=float,
                 help="Seconds a stream may stay silent before it counts as stalled "
                      "(default 30)."),
    click.option("--deadline", type=float, metavar="SECONDS",
                 help="Seconds the whole request may take, every retry and fallback "
                      "included (default 600; 1800 for the slow -pro models)."),
    click.option("--fallback", "fallbacks", multiple=True,
                 help="Model to try when the model fails for good (repeatable)."),
    click.option("--budget", type=float, metavar="USD",
                 help="Refuse to spend more than this on this command (checked before "
                      "sending, against the worst case)."),
    click.option("--context", "context_strategy",
                 type=click.Choice(["truncate", "summarize", "error"]),
                 help="When the conversation outgrows the window: truncate drops the oldest "
                      "turns, summarize replaces them with a summary, error refuses "
                      "(default: truncate)."),
]


def reasoning_option(func: F) -> F:
    """--hide-reasoning (the one-shot command and the REPL)."""
    return click.option(
        "--hide-reasoning", is_flag=True,
        help="Do not show the model's reasoning (shown dim on stderr under `thinking`; "
             "config.toml: hide_reasoning = true). It is still stored.")(func)


def request_options(func: F) -> F:
    for option in reversed(_REQUEST_OPTIONS):
        func = option(func)
    return func


_SCHEMA_OPTIONS: list[Callable[[F], F]] = [
    click.option("--schema", metavar="SCHEMA",
                 help="Answer as JSON matching SCHEMA: a JSON schema (inline or a .json "
                      "file) or fields such as 'name, age int, bio: a short biography, "
                      "address {street, city}, tags [str]'. Sent strict; the reply is "
                      "checked."),
    click.option("--schema-multi", is_flag=True,
                 help='With --schema: a list of such objects, as {"items": [...]}.'),
]


def schema_options(func: F) -> F:
    """--schema and --schema-multi (the one-shot command and the REPL)."""
    for option in reversed(_SCHEMA_OPTIONS):
        func = option(func)
    return func


DEFAULT_CHAIN_LIMIT = 5  # talkline.client._tools.DEFAULT_CHAIN_LIMIT (not imported: start-up)

_TOOL_OPTIONS: list[Callable[[F], F]] = [
    click.option("--functions", "functions", multiple=True, metavar="FILE.py",
                 help="Run the public functions this file defines as tools the model may "
                      "call (repeatable)."),
    click.option("--tool-approve", is_flag=True,
                 help="Ask y/N on the terminal before each tool call."),
    click.option("--chain-limit", type=click.IntRange(min=1), default=DEFAULT_CHAIN_LIMIT,
                 help=f"Most rounds of tool calls in one answer (default "
                      f"{DEFAULT_CHAIN_LIMIT})."),
    click.option("--tools-debug", is_flag=True,
                 help="Show each tool call's full arguments and result."),
]


def tool_options(func: F) -> F:
    """`--functions`, `--tool-approve`, `--chain-limit`, `--tools-debug`."""
    for option in reversed(_TOOL_OPTIONS):
        func = option(func)
    return func


_TEMPLATE_OPTIONS: list[Callable[[F], F]] = [
    click.option("--template", metavar="NAME",
                 help="Use a template or role: NAME from `talkline templates list`, or the "
                      "path of a .toml file. Flags given now override its values."),
    click.option("--var", "variables", multiple=True, nargs=2, metavar="NAME VALUE",
                 help="A value for the template's $NAME (repeatable)."),
]


def template_options(func: F) -> F:
    """`--template` and `--var` (the one-shot command and the REPL)."""
    for option in reversed(_TEMPLATE_OPTIONS):
        func = option(func)
    return func


def save_options(func: F) -> F:
    """`--save NAME` and `--force` (the one-shot command)."""
    func = click.option("--force", is_flag=True,
                        help="With --save: replace a template of that name.")(func)
    return click.option("--save", "save_as", metavar="NAME",
                        help="Save these flags and PROMPT as the template NAME (nothing is "
                             "sent; never --key or --base-url).")(func)
