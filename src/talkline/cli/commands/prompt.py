"""`talkline [PROMPT]`: one question, one answer."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

import click

from ...errors import ConfigError
from ..app import App, pass_app, system_replaced_notice
from ..output.toolcalls import end_reply, show_tool_calls
from .attach import STDIN_PROMPT_REFUSAL, attach_option, load_all
from .options import (
    reasoning_option,
    request_options,
    save_options,
    schema_options,
    template_options,
    tool_options,
)

if TYPE_CHECKING:
    from ...planning.costs import Cost
    from ...schema import Structured
    from ...types import ChatParams, ChatResponse, TextCompletion
    from ..output.terminal import Terminal
    from ..output.tool_events import ToolEvents


def utf8_text(data: bytes, what: str) -> str:
    """`data` decoded, or a ConfigError naming the first byte that is not UTF-8 (refused,
    not replaced: a prompt is sent, and paid for, as it is)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} is not UTF-8: byte {exc.start} (0x{data[exc.start]:02x}) cannot be "
            "decoded, so nothing was sent",
            hint="Convert it first, e.g. iconv -f latin1 -t utf-8 FILE, or give a binary "
                 "file as an attachment.") from None


def read_stdin(limit: int) -> str:
    """Piped text, at most `limit` bytes: `limit + 1` are read at most, so a flood is
    refused before its memory (or a token count) is spent."""
    if sys.stdin is None or sys.stdin.closed:
        return ""
    try:
        if sys.stdin.isatty():
            return ""
    except (AttributeError, ValueError):
        return ""
    source = getattr(sys.stdin, "buffer", None)
    if source is None:  # a text stream with no bytes under it (a test's StringIO)
        text: str = sys.stdin.read(limit + 1)
        if len(text.encode("utf-8", "surrogatepass")) > limit:
            raise _too_long(limit)
        return text
    data = source.read(limit + 1)
    if len(data) > limit:
        raise _too_long(limit)
    return utf8_text(data, "standard input")


def _too_long(limit: int) -> click.UsageError:
    return click.UsageError(
        f"stdin holds more than {limit:,} bytes, the limit for a prompt. Send a shorter "
        "text, or raise max_stdin_bytes in config.toml."
    )


def argument_text(text: str | None) -> str | None:
    """A command-line argument as given: Python hands bytes that are not UTF-8 over as
    lone surrogates; those are refused like stdin that is not UTF-8."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return utf8_text(text.encode("utf-8", "surrogateescape"), "the prompt")
    return text


def join_prompt(prompt: str | None, stdin: str) -> str:
    """Piped text first, then the instruction: `cat notes | talkline "Summarise this"`."""
    parts = [p for p in (stdin.rstrip("\n"), prompt) if p]
    return "\n\n".join(parts)


@click.command()
@click.argument("prompt", required=False)
@request_options
@schema_options
@click.option("--no-stream", is_flag=True, help="Ask for the whole answer at once.")
@click.option("--stream", "force_stream", is_flag=True,
              help="Write to a pipe as the answer arrives (default: only once complete).")
@click.option("--json", "as_json", is_flag=True, help="Print the full response as JSON.")
@click.option("-u", "--usage", "show_usage", is_flag=True, help="Show tokens after the answer.")
@click.option("--sanitize", is_flag=True,
              help="Clean control characters from piped output too.")
@click.option("--plain", is_flag=True,
              help="No markdown rendering or colour, even on a terminal (also NO_COLOR).")
@click.option("-c", "--continue", "continue_", is_flag=True,
              help="Continue the most recent conversation.")
@click.option("--cid", help="Continue the conversation with this id (a unique prefix will do).")
@click.option("--no-log", is_flag=True, help="Do not store this exchange.")
@attach_option
@tool_options
@template_options
@save_options
@reasoning_option
@pass_app
def prompt(app: App, /, prompt: str | None, no_stream: bool, force_stream: bool, as_json: bool,
           show_usage: bool, sanitize: bool, plain: bool, continue_: bool, cid: str | None,
           no_log: bool, attach: tuple[str, ...] = (), hide_reasoning: bool = False,
           save_as: str | None = None, force: bool = False, **opts: Any) -> int:
    """Send PROMPT (joined with piped stdin) and print the answer.

    Every exchange is stored (see `talkline history`) unless --no-log or `log = false`.
    """
    from ..output.answer import show_answer

    if save_as is not None:
        from ..template_save import save_template

        path = save_template(save_as, opts, argument_text(prompt), force=force)
        app.term.status(f'saved template "{save_as}" to {path} (use it: talkline --template '
                        f"{save_as}); nothing was sent")
        return 0
    if force:
        raise click.UsageError("--force goes with --save NAME (to replace that template).")
    flags = app.use_flags(opts)
    stdin_attached = "-" in attach
    if stdin_attached and not (prompt or "").strip():
        raise click.UsageError(STDIN_PROMPT_REFUSAL)
    attachments = load_all(attach)
    text = join_prompt(argument_text(prompt),
                       "" if stdin_attached else read_stdin(_stdin_limit(app)))
    if app.template is not None:
        text = app.template.message(text)
    term = app.use_terminal(sanitize_pipe=sanitize, force_stream=force_stream,
                            plain=True if plain else None)
    if not text.strip() and not attachments:
        if prompt is None and sys.stdin is not None and _isatty(sys.stdin):
            raise click.UsageError(
                "No prompt given. Try: talkline \"What is the capital of France?\", "
                "or `talkline chat` to chat."
            )
        raise click.UsageError("The prompt is empty. Give a PROMPT argument or pipe text in.")

    from ..functions import session_tools

    tools, events = session_tools(term, app.tool_opts(opts))
    settings = app.settings
    app.announce()
    store, record = app.open_conversation(continue_=continue_, cid=cid, no_log=no_log)
    request = app.request(record)
    notice = system_replaced_notice(request)
    if notice:
        term.status(notice)
    if flags.schema_notice:
        term.warn(flags.schema_notice)
    schema = schema_of(request.params)

    n = request.params.n or 1
    with app.session(request, store, record, tools) as session:
        streamed = not (as_json or no_stream)
        turn = session.send(text, stream=streamed,
                            resume=not (force_stream and not term.out_tty),
                            attachments=attachments)
        live = streamed and not as_json and n <= 1 and term.incremental and schema is None
        try:
            response = show_answer(
                term, turn, live=live, cut_off_hint="Raise --max-tokens for a longer answer.",
                show_whole=(lambda r: term.write_json(with_parsed(r, schema))) if as_json
                else (lambda r: print_structured(term, r, schema)) if schema is not None
                else (lambda r: _print_choices(term, r)),
                tool_calls_notice=not as_json and not tools,
                hide_reasoning=as_json or hide_reasoning or settings.hide_reasoning,
            )
        finally:
            unstored = turn.not_stored_notice()  # a full disk: the answer is shown anyway
            if unstored:
                term.warn(unstored)
    assert response is not None
    if response.requested_model and response.model and settings.fallbacks and (
        response.requested_model != response.model
        and not response.model.startswith(response.requested_model)
    ):
        term.status(f"answered by {response.model} (fallback from {response.requested_model})")
    if show_usage:
        term.status(usage_line(response, turn.cost,
                               free=settings.is_local_model(session.model)))
    return _tools_ended(term, response, events) or (1 if turn.store_error is not None else 0)


def _tools_ended(term: Terminal, response: ChatResponse, events: ToolEvents | None) -> int:
    """What the tool loop cost, on stderr; 1 when it stopped at the chain limit."""
    from ..output.tool_events import budget_stopped_notice, chain_limit_notice, loop_cost_line

    if events is None:
        return 0
    line = loop_cost_line(response, events.calls)
    if line:
        term.status(line)
    if response.chain_limit_reached is not None:
        term.warn(chain_limit_notice(response.chain_limit_reached))
        return 1
    if response.budget_stopped is not None:
        term.warn(budget_stopped_notice(response.budget_stopped))
        return 1
    return 0


def usage_line(response: ChatResponse | TextCompletion, cost: Cost | None, *,
               free: bool = False) -> str:
    """`usage: 12 prompt + 30 completion = 42 tokens, $0.0001 (gpt-4o-mini)`; `free`: the
    embedded model answered, which costs nothing."""
    from ...planning.costs import format_usd as format_usd

    u = response.usage
    if u is None:
        text = "usage: the server did not report token usage"
    else:
        extra = f", {u.cached_tokens} cached" if u.cached_tokens else ""
        extra += f", {u.reasoning_tokens} reasoning" if u.reasoning_tokens else ""
        text = (f"usage: {u.prompt_tokens} prompt + {u.completion_tokens} completion = "
                f"{u.total_tokens} tokens{extra}")
    if free:
        text += ", free (embedded model)"
    elif cost is not None:
        text += f", {'~' if cost.estimated else ''}{format_usd(cost.amount)}"
        text += " (estimate)" if cost.estimated else ""
    return f"{text} ({response.model})"


def _print_choices(term: Terminal, response: ChatResponse) -> None:
    single = len(response.choices) == 1
    if term.rich and not any(c.message.tool_calls for c in response.choices):
        term.write_markdown(response.content if single else "\n\n".join(
            f"## Choice {c.index + 1}\n\n{c.message.text}" for c in response.choices
        ))
        return
    if term.rich:
        for choice in response.choices:
            text = choice.message.text
            if not single:
                text = f"## Choice {choice.index + 1}\n\n{text}"
            if text:
                term.write_markdown(text)
            show_tool_calls(term, choice.message)
        return
    for choice in response.choices:
        if not single:
            term.write_line(f"## Choice {choice.index + 1}")
            term.write_line()
        term.write_answer(choice.message.text)
        end_reply(term, choice.message)
        if not single:
            term.write_line()


def schema_of(params: ChatParams) -> Structured | None:
    """The schema the request asks for (--schema now, or stored with the conversation)."""
    from ...schema import Structured as Structured

    return Structured.from_response_format(params.response_format)


def with_parsed(response: ChatResponse, schema: Structured | None) -> dict[str, object]:
    """--json: the full response, with the checked value as `parsed` under a schema and
    each choice's reasoning text as its message's `reasoning` (when there is any)."""
    data = response.to_dict()
    for choice, out in zip(response.choices, data["choices"], strict=True):
        if choice.message.reasoning:
            out["message"]["reasoning"] = choice.message.reasoning
    if schema is not None:
        parsed = response.parsed
        data["parsed"] = parsed.model_dump(mode="json") if hasattr(parsed, "model_dump") \
            else parsed
    return data


def print_structured(term: Terminal, response: ChatResponse, schema: Structured) -> None:
    """Under a schema, stdout holds only the JSON: each choice's object, pretty."""
    for choice in response.choices:
        if choice.message.tool_calls:
            show_tool_calls(term, choice.message)
            continue
        value, problem = schema.check(choice.message.text)
        if problem is None:
            term.write_json(value)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _stdin_limit(app: App) -> int:
    """`max_stdin_bytes` from config.toml, or the default when the settings cannot be read
    yet (their error is given later, where it always was)."""
    from ...errors import ConfigError
    from ...settings.defaults import MAX_STDIN_BYTES

    try:
        return app.settings.max_stdin_bytes
    except ConfigError:
        return MAX_STDIN_BYTES
