"""Options shared by the commands that send requests (`prompt`, and later `chat`, `batch`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

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
    click.option("--base-url", help=BASE_URL_HELP),
    click.option("--key", "api_key", help="API key (prefer OPENAI_API_KEY or `keys set`)."),
    click.option("--retries", type=int, help="Retries after a transient failure (default 2)."),
    click.option("--idle-timeout", type=float,
                 help="Seconds a stream may stay silent before it counts as stalled "
                      "(default 30)."),
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


def request_options(func: F) -> F:
    for option in reversed(_REQUEST_OPTIONS):
        func = option(func)
    return func


def build_settings(opts: dict[str, Any]) -> Any:
    """Settings from the connection flags, the environment and the config file. The
    request flags are a layer of their own (`given_now`), applied by `resolve_request`."""
    from ...settings import Settings as Settings

    given_now(opts)  # a wrong flag is a usage error before anything else is read
    return Settings.resolve(
        model=opts.get("model"),
        base_url=opts.get("base_url"),
        api_key=opts.get("api_key"),
        system=opts.get("system"),
        retries=opts.get("retries"),
        idle_timeout=opts.get("idle_timeout"),
        fallbacks=opts.get("fallbacks") or None,
        budget=opts.get("budget"),
        context_strategy=opts.get("context_strategy"),
    )


def given_now(opts: dict[str, Any]) -> Any:
    """Only the request values given on this command line (`talkline.layers.Given`)."""
    from ...errors import ConfigError
    from ...session.layers import Given as Given
    from ...types import ChatParams, params_from_mapping

    params: dict[str, Any] = {
        "temperature": opts.get("temperature"),
        "top_p": opts.get("top_p"),
        "n": opts.get("n"),
        "seed": opts.get("seed"),
        "presence_penalty": opts.get("presence_penalty"),
        "frequency_penalty": opts.get("frequency_penalty"),
    }
    stops = opts.get("stop") or ()
    if stops:
        params["stop"] = stops[0] if len(stops) == 1 else list(stops)
    if opts.get("json_mode"):
        params["response_format"] = {"type": "json_object"}
    for name, value in opts.get("extra_params") or ():
        params[name] = value
    max_tokens = opts.get("max_tokens")
    try:
        given = params_from_mapping({k: v for k, v in params.items() if v is not None})
        if max_tokens is not None:
            ChatParams(max_tokens=max_tokens)
    except ConfigError as exc:
        raise click.UsageError(exc.message) from None
    return Given(model=opts.get("model"), system=opts.get("system"), params=given,
                 max_tokens=max_tokens)


def resolve_for(opts: dict[str, Any], record: Any, settings: Any) -> Any:
    """The model, system prompt and parameters of this request: flags given now > what
    the conversation stored > settings (`talkline.layers.resolve_request`)."""
    from ...errors import ConfigError
    from ...session.layers import resolve_request as resolve_request

    try:
        return resolve_request(given_now(opts), record, settings)
    except ConfigError as exc:
        raise click.UsageError(exc.message) from None


def system_replaced_notice(request: Any) -> str | None:
    """The stderr line for a continued conversation given a new system prompt."""
    if not request.system_replaced:
        return None
    old = " ".join(request.replaced_system.split())
    was = f'"{old[:60]}…"' if len(old) > 60 else f'"{old}"' if old else "none"
    return f"system prompt replaced for this conversation from this turn on (was: {was})"


LOCAL_NOTICE = (
    "No API key configured: answering with the embedded SmolLM2-135M model. "
    "Set OPENAI_API_KEY or run `talkline keys set openai` to use OpenAI."
)


def announce(settings: Any, term: Any) -> None:
    """What the user must know before anything is sent: no key for OpenAI (refused), or the
    embedded model answering because no key is configured. (A key in clear text is the
    wire's warning, given once per connection for every endpoint.)"""
    settings.require_key()
    if settings.using_default_local:
        term.status(LOCAL_NOTICE)


def open_conversation(settings: Any, *, continue_: bool, cid: str | None,
                      no_log: bool) -> tuple[Any, Any]:
    """The store (None with --no-log or `log = false`) and the conversation to go on with."""
    if (continue_ or cid) and (no_log or not settings.log):
        raise click.UsageError("--continue and --cid need the conversation store; drop --no-log.")
    if no_log or not settings.log:
        return None, None
    from ...store import ConversationStore

    store = ConversationStore.open(settings.paths)
    record = None
    try:
        if cid:
            record = store.get_conversation(cid)
        elif continue_:
            record = store.latest_conversation()
            if record is None:
                raise click.UsageError("There is no conversation to continue yet.")
    except BaseException:
        store.close()
        raise
    return store, record


def progress_callbacks(term: Any) -> dict[str, Any]:
    """`on_retry` and `on_fallback` for a Client: what happens goes to stderr."""

    def short(error: BaseException) -> str:
        return str(error).split("\n", 1)[0].rstrip(".")[:160]

    def on_retry(event: Any) -> None:
        term.status(event.reason if "retried" in event.reason else
                    f"{short(event.error)}; retrying in {event.delay:.1f}s "
                    f"(attempt {event.attempt + 1} of {event.max_attempts})")

    def on_fallback(event: Any) -> None:
        term.warn(f"{event.from_model} failed ({short(event.error)}); "
                  f"falling back to {event.to_model}")

    return {"on_retry": on_retry, "on_fallback": on_fallback}
