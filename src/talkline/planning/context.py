"""Fitting a conversation into a model's context window, before it is sent. Pure.

The prompt's tokens plus the room asked for the reply must fit the window. A turn is a
user message with the assistant and tool messages that follow it; messages are only
dropped a whole turn at a time, oldest first, so an assistant message with `tool_calls`
never loses its tool results. The leading system/developer messages and the turn of the
newest user message are always kept. Strategies:

- `truncate` (default): drop the oldest turns until the rest fits.
- `summarize`: like truncate, but the dropped turns are replaced by a summary. The caller
  makes it: `FitResult.to_summarize` lists the messages to summarise and
  `FitResult.summary_covers` how many messages (after the leading system ones) the new
  summary stands for. Passed back in as `summary=Summary(text, covers)`, it is inserted
  after the system prompt and reused until more turns have to go.
- `error`: refuse with `ContextLengthExceededError` saying how many tokens over.

When the user did not set max_tokens, it is capped to what still fits; turns are dropped
only when less than `min_reply_tokens` would be left, and then enough of them to leave
`reply_reserve`. A user-set max_tokens is kept as it is and the prompt trimmed around it.
Counts that are not exact (estimates, tool definitions, images) get a safety margin of 5%
of the window.

When a server refuses with `context_length_exceeded` anyway, `trim_for_server_error` fits
again with the numbers from its message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from ..errors import ContextLengthExceededError, ParamError
from ..settings.defaults import CONTEXT_STRATEGIES, ContextStrategy
from ..types import Message
from .tokens import TokenCounter as TokenCounter

__all__ = [
    "STRATEGIES",
    "FitResult",
    "PromptTooLongError",
    "Strategy",
    "Summary",
    "fit_to_context",
    "server_limits",
    "trim_for_server_error",
]

Strategy = ContextStrategy
STRATEGIES = CONTEXT_STRATEGIES

SUMMARY_PREFIX = "Summary of the earlier conversation: "
_INEXACT_MARGIN = 0.05


class PromptTooLongError(ContextLengthExceededError):
    """The prompt does not fit, found before sending. `over_by` is how many tokens over."""

    def __init__(self, message: str, *, limit: int, requested: int, over_by: int,
                 hint: str | None = None) -> None:
        super().__init__(message, code="context_length_exceeded", hint=hint)
        self._limit = limit
        self._requested = requested
        self.over_by = over_by

    @property
    def limit(self) -> int | None:
        return self._limit

    @property
    def requested(self) -> int | None:
        return self._requested


@dataclass(frozen=True)
class Summary:
    """A stored summary standing for the first `covers` messages after the leading
    system/developer messages."""

    content: str
    covers: int

    def as_message(self) -> Message:
        return Message("system", SUMMARY_PREFIX + self.content)


@dataclass(frozen=True)
class FitResult:
    """What to send.

    `prompt_tokens` counts `messages` as sent; `max_tokens` is the value to send (None:
    leave it unset); `dropped` is how many messages of the history were left out;
    `over_by` how many tokens the whole history was over (0 when it fitted).
    """

    messages: list[Message]
    dropped: int
    prompt_tokens: int
    max_tokens: int | None
    summarized: bool
    over_by: int
    to_summarize: list[Message] = field(default_factory=list)
    summary_covers: int = 0
    exact: bool = True
    context_window: int = 0


@dataclass
class _Plan:
    """Token sums of one conversation, for choosing where the kept part starts."""

    head: list[Message]
    body: list[Message]
    fixed: int  # head + reply priming + tools
    suffix: list[int]  # suffix[k] = tokens of body[k:]
    starts: list[int]  # where turns begin in body (always ends with the newest turn)

    def total(self, k: int, extra: int = 0) -> int:
        return self.fixed + self.suffix[k] + extra

    def first_fitting(self, budget: int, extra: int = 0, at_least: int = 0) -> int | None:
        """The earliest turn start >= at_least whose tail fits with `extra` tokens more."""
        for k in self.starts:
            if k >= at_least and self.total(k, extra) <= budget:
                return k
        return None


def _plan(messages: Sequence[Message], model: str, counter: TokenCounter,
          tools: Sequence[Mapping[str, Any]] | None) -> tuple[_Plan, bool]:
    counts = counter.message_counts(messages, model)
    exact = counts.exact
    fixed = counts.priming
    if tools:
        tool_count = counter.count_tools(tools, model)
        fixed += tool_count.tokens
        exact = exact and tool_count.exact
    head_end = 0
    while head_end < len(messages) and messages[head_end].role in ("system", "developer"):
        head_end += 1
    fixed += sum(counts.tokens[:head_end])
    body = list(messages[head_end:])
    body_tokens = counts.tokens[head_end:]
    suffix = list(accumulate(reversed(body_tokens), initial=0))[::-1]
    starts = [0] + [i for i, m in enumerate(body) if m.role == "user" and i > 0]
    return _Plan(list(messages[:head_end]), body, fixed, suffix, starts), exact


def _reply_room(max_output: int | None, user_set: bool, min_reply_tokens: int) -> int:
    if user_set:
        if max_output is None or max_output < 1:
            raise ParamError("user_set_max_tokens needs max_output: the user's max_tokens")
        return max_output
    wanted = min(min_reply_tokens, max_output) if max_output else min_reply_tokens
    return max(1, wanted)


def _input_cap(max_input: int | None, exact: bool, context_window: int, margin: int
               ) -> int | None:
    """The most input tokens the prompt may hold under `max_input`, less the same share
    of safety margin the window gets for estimated counts."""
    if not max_input or max_input < 1:
        return None
    if exact or not margin:
        return max_input
    return max_input - math.ceil(max_input * margin / max(context_window, 1))


def fit_to_context(
    messages: Sequence[Message],
    *,
    model: str,
    context_window: int,
    max_output: int | None,
    user_set_max_tokens: bool = False,
    strategy: str = "truncate",
    counter: TokenCounter | None = None,
    summary: Summary | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    min_reply_tokens: int = 256,
    reply_reserve: int | None = None,
    summary_reserve: int = 512,
    margin: int | None = None,
    max_input: int | None = None,
) -> FitResult:
    """Choose the messages to send and the max_tokens to ask for.

    `max_output` is the user's max_tokens when `user_set_max_tokens`, else the model's
    maximum output (None when unknown). `max_input` is the most input the model accepts
    inside its window (the catalog's `max_input`: 272,000 of gpt-5's 400,000): the prompt
    may hold at most min(max_input, window - reply).

    Without a user-set max_tokens, nothing is dropped while at least `min_reply_tokens`
    remain for the reply (max_tokens is capped instead). Once turns must go, enough are
    dropped to leave `reply_reserve` (default: the model's maximum output, at most a
    quarter of the window): a reply is not starved, and the kept prefix, and with it the
    server's prompt cache, stays the same for several turns.

    Raises `PromptTooLongError` (a `ContextLengthExceededError`) when even the system
    prompt and the newest turn do not fit, or when the strategy is `error` and anything
    would have to be dropped.
    """
    if strategy not in STRATEGIES:
        raise ParamError(
            f"context strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}"
        )
    if context_window < 1:
        raise ParamError(f"context_window must be positive, got {context_window}")
    counter = counter or TokenCounter()
    msgs = [m if isinstance(m, Message) else Message.from_dict(m) for m in messages]
    plan, exact = _plan(msgs, model, counter, tools)
    if margin is None:
        margin = 0 if exact else math.ceil(context_window * _INEXACT_MARGIN)
    window = context_window - margin
    reply = _reply_room(max_output, user_set_max_tokens, min_reply_tokens)
    if user_set_max_tokens:
        target = reply
    else:
        reserve = reply_reserve if reply_reserve is not None else window // 4
        target = max(reply, min(reserve, max_output) if max_output else reserve)
    budget = window - reply  # the most the prompt may take
    roomy = window - target  # what it is cut down to when turns must go
    cap = _input_cap(max_input, exact, context_window, margin)
    if cap is not None:
        budget, roomy = min(budget, cap), min(roomy, cap)
    full = plan.total(0)
    over_by = max(0, full - budget)

    def result(k: int, summary_msg: Message | None, summary_tokens: int,
               to_summarize: list[Message] | None = None, covers: int = 0) -> FitResult:
        kept = plan.head + ([summary_msg] if summary_msg is not None else []) + plan.body[k:]
        prompt = plan.total(k, summary_tokens)
        room = window - prompt
        if user_set_max_tokens:
            max_tokens: int | None = max_output
        else:
            max_tokens = max(1, min(max_output, room) if max_output else room)
        return FitResult(
            messages=kept,
            dropped=k,
            prompt_tokens=prompt,
            max_tokens=max_tokens,
            summarized=summary_msg is not None,
            over_by=over_by,
            to_summarize=to_summarize or [],
            summary_covers=covers,
            exact=exact,
            context_window=context_window,
        )

    if full <= budget:
        return result(0, None, 0)

    def refuse(needed: int, newest_only: bool) -> PromptTooLongError:
        capped = cap is not None and cap < window - reply
        over = needed - budget if capped else needed + reply - window
        about = "" if exact else "about "
        what = ("Even the system prompt and the newest message need"
                if newest_only else "The conversation needs")
        limit = f"{model}'s context window of {context_window:,} tokens"
        if margin:
            limit += f" (less a {margin:,}-token safety margin for estimated counts)"
        message = (f"{what} {about}{needed:,} tokens, plus {reply:,} for the reply: "
                   f"{about}{over:,} tokens more than {limit}.")
        if capped:
            message = (f"{what} {about}{needed:,} tokens: {about}{over:,} more than "
                       f"{model} accepts as input ({max_input:,} tokens, inside its "
                       f"{context_window:,}-token window).")
        if newest_only:
            hint = "Shorten the newest message or the system prompt, or lower max_tokens."
        else:
            hint = ("Use the truncate or summarize context strategy, start a new "
                    "conversation, or lower max_tokens.")
        return PromptTooLongError(message, limit=context_window, requested=needed + reply,
                                  over_by=over, hint=hint)

    if strategy == "error":
        raise refuse(full, newest_only=False)
    newest = plan.starts[-1]
    if plan.total(newest) > budget:
        raise refuse(plan.total(newest), newest_only=True)

    if strategy == "truncate":
        k = plan.first_fitting(roomy)
        return result(newest if k is None else k, None, 0)

    # summarize
    valid = (summary is not None and 0 < summary.covers < len(plan.body)
             and summary.covers in plan.starts)
    if summary is not None and valid:
        msg = summary.as_message()
        tokens = counter.message_counts([msg], model).tokens[0]
        if plan.total(summary.covers, tokens) <= budget:
            return result(summary.covers, msg, tokens)
        # More turns must go: keep the old summary for now, ask for one covering them too.
        k = plan.first_fitting(roomy, max(tokens, summary_reserve), at_least=summary.covers)
        if k is None and plan.total(newest, tokens) <= budget:
            k = newest
        if k is not None:
            return result(k, msg, tokens, [msg, *plan.body[summary.covers:k]], k)
    k = plan.first_fitting(roomy, summary_reserve)
    if k is None:
        k = newest
    if summary is not None and valid and k >= summary.covers:
        # The stored summary is too long to keep: summarise it with the turns after it.
        return result(k, None, 0, [summary.as_message(), *plan.body[summary.covers:k]], k)
    return result(k, None, 0, plan.body[:k], k)


# ---------------------------------------------------------------- server refusals

_LIMIT = re.compile(r"maximum context length is (\d+)")
_REQUESTED = re.compile(r"(?:resulted in|requested) (\d+) tokens")
_IN_MESSAGES = re.compile(r"(\d+) in the messages")


def server_limits(error: ContextLengthExceededError | Exception
                  ) -> tuple[int | None, int | None, int | None]:
    """(context limit, tokens requested, prompt tokens) from a server's refusal.

    Reads OpenAI's and vLLM's message ("maximum context length is 8192 tokens. However,
    you requested 9000 tokens (8000 in the messages, 1000 in the completion)") and
    llama.cpp's error fields (`n_ctx`, `n_prompt_tokens`). Unknown numbers are None.
    """
    message = str(getattr(error, "message", error))
    m = _LIMIT.search(message)
    limit = int(m.group(1)) if m else None
    m = _REQUESTED.search(message)
    requested = int(m.group(1)) if m else None
    m = _IN_MESSAGES.search(message)
    prompt = int(m.group(1)) if m else None
    body = getattr(error, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        if limit is None and isinstance(inner.get("n_ctx"), int):
            limit = int(inner["n_ctx"])
        if prompt is None and isinstance(inner.get("n_prompt_tokens"), int):
            prompt = int(inner["n_prompt_tokens"])
    if requested is not None and prompt is None and "resulted in" in message:
        prompt = requested
    return limit, requested, prompt


def trim_for_server_error(
    messages: Sequence[Message],
    *,
    limit: int,
    requested: int | None,
    sent: FitResult | None = None,
    model: str,
    max_output: int | None,
    user_set_max_tokens: bool = False,
    strategy: str = "truncate",
    counter: TokenCounter | None = None,
    summary: Summary | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    prompt_tokens: int | None = None,
    min_reply_tokens: int = 256,
) -> FitResult:
    """Fit again after a server refused `sent` with `context_length_exceeded`.

    `limit`, `requested` and `prompt_tokens` are the server's numbers (`server_limits`).
    The difference between the server's prompt count and ours (a chat template, another
    tokenizer) is subtracted from the window, and a safety margin of 1% (at least 16
    tokens) is kept, so that one more attempt fits. Pass the whole history again, with
    the same settings as the first fit, and that fit's result as `sent` (None when the
    history was sent unfitted, e.g. for a model the catalog does not know).
    """
    counter = counter or TokenCounter()
    if sent is None:  # the whole history was sent, unfitted
        ours = counter.count_messages(messages, model, tools=tools).tokens
        sent_max = max_output if user_set_max_tokens else None
    else:
        ours, sent_max = sent.prompt_tokens, sent.max_tokens
    if prompt_tokens is None and requested is not None:
        prompt_tokens = requested - (sent_max or 0)
    if prompt_tokens is not None:
        delta = max(0, prompt_tokens - ours)
        margin = max(16, limit // 100)
    else:
        delta = 0
        margin = max(16, math.ceil(limit * _INEXACT_MARGIN))
    window = max(1, limit - delta)
    return fit_to_context(
        messages,
        model=model,
        context_window=window,
        max_output=max_output,
        user_set_max_tokens=user_set_max_tokens,
        strategy=strategy,
        counter=counter,
        summary=summary,
        tools=tools,
        min_reply_tokens=min_reply_tokens,
        margin=margin,
    )
