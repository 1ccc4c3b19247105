"""`talkline complete [PROMPT]`: a text completion, `POST /v1/completions`.

The prompt is read as `talkline prompt` reads it (the argument after piped stdin, the same
size limit, UTF-8 or refused); the model is resolved as there too (-m, TALKLINE_MODEL,
config.toml, `local` with no key and no server). The text streams to a terminal as it
comes, plain (a base model's output is not markdown), sanitized like every answer. The
exchange is stored like `prompt`'s (the prompt before it is sent, the completion after),
so `history` and `usage` see it, unless --no-log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..app import App, pass_app
from .complete_options import complete_options
from .prompt import _stdin_limit, argument_text, join_prompt, read_stdin, usage_line

if TYPE_CHECKING:
    from ...planning.costs import Cost
    from ...planning.preflight import Preflight
    from ...store import ConversationStore
    from ...types import ChatParams, CompletionOptions, TextCompletion
    from ..output.terminal import Terminal

CUT_OFF_HINT = "Raise --max-tokens for a longer completion."
EMPTY = ("The prompt is empty. Give a PROMPT argument or pipe text in, e.g. "
         "talkline complete 'Once upon a time'.")


@click.command()
@click.argument("prompt", required=False)
@complete_options
@pass_app
def complete(app: App, /, prompt: str | None, echo: bool, logprobs: int | None,
             suffix: str | None, no_stream: bool, as_json: bool, show_usage: bool,
             sanitize: bool, no_log: bool, **opts: Any) -> int:
    """Continue PROMPT (joined with piped stdin) with a text completion (POST /v1/completions).

    For base and instruct models and servers such as llama.cpp and vLLM; offline, the
    embedded model. Stored like `talkline prompt` unless --no-log.
    """
    from ...types import CompletionOptions, Message
    from ...wire.completions import refuse_engines

    flags = app.use_flags(opts)
    text = join_prompt(argument_text(prompt), read_stdin(_stdin_limit(app)))
    term = app.use_terminal(sanitize_pipe=sanitize, plain=True)
    if not text.strip():
        raise click.UsageError(EMPTY)
    settings = app.settings
    model = settings.model
    local = settings.is_local_model(model)
    if not local:
        refuse_engines(settings.base_url)  # before the key check: the URL is the problem
    app.announce()
    params = _params(settings.params, flags.given.params, flags.given.max_tokens)
    store, _ = app.open_conversation(continue_=False, cid=None, no_log=no_log)
    from ...planning.preflight import Preflight

    preflight = Preflight(settings, store=store)
    try:
        prepared = preflight.prepare([Message("user", text)], model, params)
        sent = prepared.params
        reply_id = _store_prompt(store, model, sent, text)
        response = _run(app, term, text, model, sent, reply_id, store,
                        stream=not (as_json or no_stream) and (sent.n or 1) == 1
                        and term.incremental, show=not as_json,
                        options=CompletionOptions(text, echo or None, logprobs, suffix))
        cost = _store_answer(store, reply_id, preflight, response, model, local)
    finally:
        if store is not None:
            store.close()
    if as_json:
        term.write_json(response.to_dict())
    for choice in response.choices:
        if choice.finish_reason == "length":
            from ..output.answer import cut_off_warning

            several = len(response.choices) > 1
            term.warn(cut_off_warning(CUT_OFF_HINT, choice.index + 1 if several else None))
    if show_usage:
        term.status(usage_line(response, cost, free=local))
    return 0


def _params(base: ChatParams, given: ChatParams, max_tokens: int | None) -> ChatParams:
    """The settings' parameters, the flags' over them."""
    fields = {k: v for k, v in given.to_dict().items() if k != "model"}
    if given.extra_body:
        fields["extra_body"] = {**(base.extra_body or {}), **given.extra_body}
    return base.merge(**fields, max_tokens=max_tokens)


def _run(app: App, term: Terminal, text: str, model: str, params: ChatParams,
         reply_id: int | None, store: ConversationStore | None, *, stream: bool,
         show: bool, options: CompletionOptions) -> TextCompletion:
    """Send it; stream the first choice's text as it comes, or print every choice once
    whole (numbered when there are several; `show=False`: not at all, --json prints it).
    A failure is stored with the reply, with the text shown so far."""
    from ...types import TextCompletion as TextCompletionType

    client = app.client()
    shown: list[str] = []
    try:
        p = params
        result = client.complete_text(
            text, model=model, stream=stream, echo=options.echo, logprobs=options.logprobs,
            suffix=options.suffix, max_tokens=p.max_tokens or p.max_completion_tokens,
            temperature=p.temperature, top_p=p.top_p, stop=p.stop, n=p.n, seed=p.seed,
            presence_penalty=p.presence_penalty, frequency_penalty=p.frequency_penalty,
            logit_bias=p.logit_bias, user=p.user, extra_body=p.extra_body)
        if isinstance(result, TextCompletionType):
            if show:
                _print_whole(term, result)
            return result
        for delta in result:
            if delta.restart:
                term.erase_answer()
                shown.clear()
            elif delta.index == 0 and delta.text:
                shown.append(delta.text)
                term.write_answer(delta.text)
        term.end_answer()
        assert result.response is not None
        return result.response
    except BaseException as exc:
        if shown:
            term.interrupt_answer() if isinstance(exc, KeyboardInterrupt) else term.end_answer()
        if store is not None and reply_id is not None:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            store.update_message(reply_id, status=status, content="".join(shown),
                                 error=str(exc) or type(exc).__name__)
        raise
    finally:
        client.close()


def _print_whole(term: Terminal, response: TextCompletion) -> None:
    single = len(response.choices) == 1
    for choice in response.choices:
        if not single:
            term.write_line(f"## Choice {choice.index + 1}")
            term.write_line()
        term.write_answer(choice.text)
        term.end_answer()
        if not single:
            term.write_line()


def _store_prompt(store: ConversationStore | None, model: str, params: ChatParams,
                  text: str) -> int | None:
    """A new conversation holding the prompt and a pending reply, before anything is
    sent; the reply's id."""
    if store is None:
        return None
    record = store.create_conversation(model=model, params=params.to_dict())
    store.append_message(record.id, "user", text)
    pending = store.append_message(record.id, "assistant", "", status="pending",
                                   requested_model=model, params=params.to_dict())
    return pending.id


def _store_answer(store: ConversationStore | None, reply_id: int | None,
                  preflight: Preflight, response: TextCompletion, model: str, local: bool
                  ) -> Cost | None:
    """The completion's cost (the catalog's prices; free on the embedded model), and the
    reply stored with its tokens and cost."""
    cost = preflight.cost(model if local else response.model or model, response.usage,
                          completion_text=response.text)
    if store is None or reply_id is None:
        return cost
    fields: dict[str, Any] = {"status": "complete", "content": response.text,
                              "model": response.model or model,
                              "finish_reason": response.finish_reason,
                              "latency": response.latency, "request_id": response.request_id}
    if response.usage is not None:
        fields.update(prompt_tokens=response.usage.prompt_tokens,
                      completion_tokens=response.usage.completion_tokens,
                      cached_tokens=response.usage.cached_tokens)
    if cost is not None:
        fields["cost"], fields["cost_estimated"] = cost.amount, cost.estimated
    store.update_message(reply_id, **fields)
    return cost
