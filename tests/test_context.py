"""Fitting conversations into a context window: truncate, summarize, error, server trims."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkline.errors import ContextLengthExceededError, ParamError
from talkline.planning.context import (
    FitResult,
    PromptTooLongError,
    Summary,
    fit_to_context,
    server_limits,
    trim_for_server_error,
)
from talkline.planning.tokens import TokenCounter
from talkline.types import Message, ToolCall
from talkline.wire.status_errors import error_from_response

SYSTEM = Message("system", "You are a helpful assistant.")


def chat(turns: int, words: int = 50) -> list[Message]:
    msgs = [SYSTEM]
    for i in range(turns):
        msgs.append(Message("user", f"Question number {i}: " + "why " * words))
        msgs.append(Message("assistant", f"Answer number {i}: " + "because " * words))
    return msgs


def tokens(msgs: list[Message], model: str = "gpt-4o") -> int:
    return TokenCounter().count_messages(msgs, model).tokens


def tool_pairs_intact(msgs: list[Message]) -> bool:
    """Every tool result has its call in the prompt, and every call its results."""
    calls = {c.id for m in msgs for c in m.tool_calls}
    results = {m.tool_call_id for m in msgs if m.role == "tool"}
    return calls == results


def check(result: FitResult, msgs: list[Message], window: int, model: str = "gpt-4o") -> None:
    assert result.prompt_tokens == tokens(result.messages, model)
    assert result.max_tokens is None or result.prompt_tokens + result.max_tokens <= window
    assert result.messages[0] == msgs[0]
    newest = max(i for i, m in enumerate(msgs) if m.role == "user")
    assert result.messages[-(len(msgs) - newest):] == msgs[newest:]
    assert tool_pairs_intact(result.messages)


# ---------------------------------------------------------------- truncate


def test_a_conversation_that_fits_is_sent_whole_and_max_tokens_capped() -> None:
    msgs = chat(3)
    n = tokens(msgs)
    result = fit_to_context(msgs, model="gpt-4o", context_window=n + 1000, max_output=16384)
    assert result.messages == msgs and result.dropped == 0 and result.over_by == 0
    assert result.prompt_tokens == n
    assert result.max_tokens == 1000  # capped to what still fits
    roomy = fit_to_context(msgs, model="gpt-4o", context_window=128_000, max_output=16384)
    assert roomy.max_tokens == 16384


def test_truncate_drops_oldest_turns_and_keeps_system_and_newest() -> None:
    msgs = chat(40)
    window = tokens(msgs) // 2
    result = fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=1000)
    check(result, msgs, window)
    assert result.dropped > 0 and result.dropped % 2 == 0  # whole turns
    assert result.messages[1].role == "user"
    assert result.messages[1:] == msgs[1 + result.dropped:]
    assert result.over_by > 0 and not result.summarized
    assert result.max_tokens is not None and result.max_tokens >= min(1000, window // 4)


def test_truncation_leaves_room_for_a_real_reply() -> None:
    msgs = chat(40)
    window = tokens(msgs) - 100  # 100 tokens over without any reply room
    result = fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=4096)
    # Once turns go, enough go to leave the model's full output (at most a quarter window).
    target = min(4096, window // 4)
    one_turn = tokens(msgs[1:3]) - 3
    assert result.max_tokens is not None
    assert target <= result.max_tokens < target + one_turn  # and no more turns than that


def test_user_set_max_tokens_is_kept_and_the_prompt_cut_around_it() -> None:
    msgs = chat(10)
    n = tokens(msgs)
    result = fit_to_context(msgs, model="gpt-4o", context_window=n + 100, max_output=500,
                            user_set_max_tokens=True)
    assert result.max_tokens == 500 and result.dropped > 0
    assert result.prompt_tokens + 500 <= n + 100


def test_tool_calls_are_never_split_from_their_results() -> None:
    msgs = [SYSTEM]
    for i in range(15):
        msgs.append(Message("user", f"Weather in city {i}? " + "please " * 20))
        calls = (ToolCall(f"call_{i}_a", "weather", json.dumps({"city": i})),
                 ToolCall(f"call_{i}_b", "time", json.dumps({"city": i})))
        msgs.append(Message("assistant", None, tool_calls=calls))
        msgs.append(Message("tool", "sunny " * 30, tool_call_id=f"call_{i}_a"))
        msgs.append(Message("tool", "noon " * 30, tool_call_id=f"call_{i}_b"))
        msgs.append(Message("assistant", f"It is sunny in city {i}."))
    full = tokens(msgs)
    for window in range(full // 8, full + 400, 37):
        try:
            result = fit_to_context(msgs, model="gpt-4o", context_window=window,
                                    max_output=300, min_reply_tokens=50)
        except PromptTooLongError:
            continue
        check(result, msgs, window)


def test_a_tool_loop_in_the_newest_turn_is_kept_whole() -> None:
    msgs = chat(5) + [
        Message("user", "Look it up"),
        Message("assistant", None, tool_calls=(ToolCall("c1", "search", "{}"),)),
        Message("tool", "result text", tool_call_id="c1"),
    ]
    window = tokens(msgs[:1] + msgs[-3:]) + 70  # the newest turn, 5% margin, 50 reply
    result = fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=100,
                            min_reply_tokens=50)
    assert result.messages == [SYSTEM, *msgs[-3:]]


def test_system_and_newest_message_too_long_raises_with_the_overage() -> None:
    msgs = [SYSTEM, Message("user", "word " * 2000)]
    need = tokens(msgs)
    with pytest.raises(PromptTooLongError) as info:
        fit_to_context(msgs, model="gpt-4o", context_window=1000, max_output=100,
                       min_reply_tokens=100)
    err = info.value
    assert isinstance(err, ContextLengthExceededError)
    assert err.over_by == need + 100 - 1000
    assert err.limit == 1000 and err.requested == need + 100
    assert err.code == "context_length_exceeded"
    assert f"{err.over_by:,} tokens more than gpt-4o's context window of 1,000 tokens" in str(err)
    assert "Even the system prompt and the newest message" in str(err)


# ---------------------------------------------------------------- error strategy


def test_error_strategy_says_how_many_tokens_over() -> None:
    msgs = chat(10)
    n = tokens(msgs)
    with pytest.raises(PromptTooLongError) as info:
        fit_to_context(msgs, model="gpt-4o", context_window=n, max_output=4096,
                       strategy="error", min_reply_tokens=256)
    assert info.value.over_by == 256
    assert str(info.value).startswith(
        f"The conversation needs {n:,} tokens, plus 256 for the reply: 256 tokens more than "
        f"gpt-4o's context window of {n:,} tokens."
    )
    assert "truncate or summarize" in str(info.value)
    ok = fit_to_context(msgs, model="gpt-4o", context_window=n + 300, max_output=4096,
                        strategy="error")
    assert ok.messages == msgs and ok.max_tokens == 300


def test_unknown_strategy_lists_the_choices() -> None:
    with pytest.raises(ParamError, match="one of truncate, summarize, error; got 'drop'"):
        fit_to_context(chat(1), model="gpt-4o", context_window=1000, max_output=10,
                       strategy="drop")


# ---------------------------------------------------------------- summarize


def test_summarize_asks_for_a_summary_then_reuses_it() -> None:
    counter = TokenCounter()
    msgs = chat(30)
    window = tokens(msgs) // 2
    kw = dict(model="gpt-4o", context_window=window, max_output=1000, strategy="summarize",
              counter=counter)
    first = fit_to_context(msgs, **kw)  # type: ignore[arg-type]
    assert first.to_summarize == msgs[1:1 + first.summary_covers]
    assert first.summary_covers == first.dropped > 0 and not first.summarized
    check(first, msgs, window)

    summary = Summary("The user asked many why-questions; each was answered.",
                      first.summary_covers)
    second = fit_to_context(msgs, summary=summary, **kw)  # type: ignore[arg-type]
    assert second.summarized and second.to_summarize == []
    assert second.messages[0] == SYSTEM
    assert second.messages[1] == Message(
        "system", "Summary of the earlier conversation: " + summary.content)
    assert second.messages[2:] == msgs[1 + summary.covers:]
    assert second.prompt_tokens == tokens(second.messages)
    assert second.prompt_tokens + (second.max_tokens or 0) <= window

    # One more turn still fits next to the summary: it is reused as it is.
    grown = msgs + [Message("user", "And one more?"), Message("assistant", "Sure.")]
    third = fit_to_context(grown, summary=summary, **kw)  # type: ignore[arg-type]
    assert third.summarized and third.to_summarize == [] and third.dropped == summary.covers

    # Many more turns: more must go; the old summary and the newly dropped turns are to
    # be summarised together, and the old summary is used meanwhile.
    longer = msgs + chat(15)[1:]
    fourth = fit_to_context(longer, summary=summary, **kw)  # type: ignore[arg-type]
    assert fourth.summarized and fourth.summary_covers > summary.covers
    assert fourth.to_summarize[0] == summary.as_message()
    assert fourth.to_summarize[1:] == longer[1 + summary.covers:1 + fourth.summary_covers]
    assert fourth.prompt_tokens + (fourth.max_tokens or 0) <= window
    newer = Summary("Even more why-questions.", fourth.summary_covers)
    fifth = fit_to_context(longer, summary=newer, **kw)  # type: ignore[arg-type]
    assert fifth.summarized and fifth.to_summarize == []


def test_a_summary_that_no_longer_lines_up_is_ignored() -> None:
    msgs = chat(30)
    window = tokens(msgs) // 2
    result = fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=1000,
                            strategy="summarize", summary=Summary("stale", covers=3))
    assert not result.summarized and result.to_summarize  # 3 is mid-turn


def test_summary_is_not_used_when_everything_fits() -> None:
    msgs = chat(3)
    result = fit_to_context(msgs, model="gpt-4o", context_window=100_000, max_output=1000,
                            strategy="summarize", summary=Summary("old", covers=2))
    assert result.messages == msgs and not result.summarized


# ---------------------------------------------------------------- server refusals


def openai_refusal(limit: int, prompt: int, completion: int) -> ContextLengthExceededError:
    body = {"error": {
        "message": f"This model's maximum context length is {limit} tokens. However, you "
                   f"requested {prompt + completion} tokens ({prompt} in the messages, "
                   f"{completion} in the completion). Please reduce the length of the "
                   "messages or completion.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded",
    }}
    err = error_from_response(400, json.dumps(body))
    assert isinstance(err, ContextLengthExceededError)
    return err


def test_server_limits_reads_openai_and_llama_cpp() -> None:
    assert server_limits(openai_refusal(8192, 9000, 500)) == (8192, 9500, 9000)
    llama = error_from_response(400, json.dumps({"error": {
        "code": 400, "message": "the request exceeds the available context size, try "
        "increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5000,
        "n_ctx": 4096}}))
    assert server_limits(llama) == (4096, None, 5000)
    assert server_limits(ValueError("no numbers")) == (None, None, None)


def test_trim_for_server_error_fits_the_servers_numbers() -> None:
    counter = TokenCounter()
    msgs = chat(40)
    ours = tokens(msgs)
    sent = fit_to_context(msgs, model="gpt-4o", context_window=ours + 2000, max_output=1000,
                          counter=counter)
    assert sent.dropped == 0
    # The server counts 10% more than we do (say, another template) and has a smaller window.
    server_prompt = int(sent.prompt_tokens * 1.1)
    limit = ours
    err = openai_refusal(limit, server_prompt, sent.max_tokens or 0)
    lim, requested, prompt = server_limits(err)
    assert lim is not None
    again = trim_for_server_error(msgs, limit=lim, requested=requested, prompt_tokens=prompt,
                                  sent=sent, model="gpt-4o", max_output=1000, counter=counter)
    extra = server_prompt - sent.prompt_tokens
    assert again.dropped > 0
    # What the server will count (ours + its extra) plus the reply fits its limit.
    assert again.prompt_tokens + extra + (again.max_tokens or 0) <= limit
    check(again, msgs, limit)


def test_trim_without_the_requested_number_keeps_a_wider_margin() -> None:
    msgs = chat(20)
    sent = fit_to_context(msgs, model="gpt-4o", context_window=100_000, max_output=1000)
    again = trim_for_server_error(msgs, limit=2000, requested=None, sent=sent, model="gpt-4o",
                                  max_output=1000)
    assert again.prompt_tokens + (again.max_tokens or 0) <= 2000 - 100


def test_trim_after_an_unfitted_send_to_llama_cpp() -> None:
    counter = TokenCounter()
    msgs = chat(20)
    ours = counter.count_messages(msgs, "smol").tokens
    err = error_from_response(400, json.dumps({"error": {
        "code": 400, "message": "the request exceeds the available context size, try "
        "increasing it", "type": "exceed_context_size_error",
        "n_prompt_tokens": int(ours * 1.2), "n_ctx": ours // 2}}))
    limit, requested, prompt = server_limits(err)
    assert limit == ours // 2
    again = trim_for_server_error(msgs, limit=limit, requested=requested, prompt_tokens=prompt,
                                  model="smol", max_output=None, counter=counter)
    extra = int(ours * 1.2) - ours
    assert again.dropped > 0 and not again.exact
    assert again.prompt_tokens + extra + (again.max_tokens or 0) <= limit


# ---------------------------------------------------------------- estimates


def test_estimated_counts_keep_a_safety_margin() -> None:
    msgs = chat(20)
    counter = TokenCounter()
    result = fit_to_context(msgs, model="some-local-model", context_window=2000,
                            max_output=500, counter=counter)
    assert not result.exact
    assert result.prompt_tokens + (result.max_tokens or 0) <= 2000 - 100
    assert result.prompt_tokens == counter.count_messages(result.messages,
                                                          "some-local-model").tokens


# ---------------------------------------------------------------- properties


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    msgs: list[Message] = []
    if draw(st.booleans()):
        msgs.append(Message("system", "sys " * draw(st.integers(0, 30))))
    if draw(st.booleans()):
        msgs.append(Message("developer", "dev " * draw(st.integers(0, 10))))
    n_turns = draw(st.integers(1, 12))
    call = 0
    for _ in range(n_turns):
        msgs.append(Message("user", "ask " * draw(st.integers(0, 60))))
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["text", "tools"]))
            if kind == "text":
                msgs.append(Message("assistant", "say " * draw(st.integers(0, 80))))
            else:
                ids = [f"c{call + j}" for j in range(draw(st.integers(1, 3)))]
                call += len(ids)
                msgs.append(Message("assistant", None, tool_calls=tuple(
                    ToolCall(i, "fn", '{"x": 1}') for i in ids)))
                msgs += [Message("tool", "out " * draw(st.integers(0, 40)), tool_call_id=i)
                         for i in ids]
    return msgs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    msgs=conversations(),
    data=st.data(),
    max_output=st.one_of(st.none(), st.integers(1, 2000)),
    user_set=st.booleans(),
    strategy=st.sampled_from(["truncate", "summarize", "error"]),
    model=st.sampled_from(["gpt-4o", "gpt-4", "unknown-model"]),
    min_reply=st.integers(1, 300),
)
def test_fit_never_exceeds_the_window_and_keeps_what_it_must(
    msgs: list[Message], data: st.DataObject, max_output: int | None, user_set: bool,
    strategy: str, model: str, min_reply: int,
) -> None:
    full = tokens(msgs, model)
    # Windows from "nothing fits" through "some turns go" to "everything fits".
    window = data.draw(st.integers(1, full // 3) | st.integers(full // 3 + 1, full + 2500))
    if user_set and max_output is None:
        max_output = 100
    counter = TokenCounter()
    try:
        result = fit_to_context(msgs, model=model, context_window=window,
                                max_output=max_output, user_set_max_tokens=user_set,
                                strategy=strategy, counter=counter, min_reply_tokens=min_reply)
    except PromptTooLongError as exc:
        assert exc.over_by > 0
        return
    assert result.max_tokens is not None and result.max_tokens >= 1
    assert result.prompt_tokens + result.max_tokens <= window
    if user_set:
        assert result.max_tokens == max_output
    elif max_output is not None:
        assert result.max_tokens <= max_output
    assert result.prompt_tokens == counter.count_messages(result.messages, model).tokens
    head = [m for m in msgs[:2] if m.role in ("system", "developer")]
    assert result.messages[:len(head)] == head
    newest = max(i for i, m in enumerate(msgs) if m.role == "user")
    assert result.messages[-(len(msgs) - newest):] == msgs[newest:]
    assert tool_pairs_intact(result.messages)
    if strategy == "error":
        assert result.messages == msgs
    if strategy == "summarize" and result.dropped:
        assert result.to_summarize == msgs[len(head):len(head) + result.dropped]


# ---------------------------------------------------------------- speed


def test_fitting_500_turns_is_fast_once_counted() -> None:
    msgs = chat(500, words=30)
    counter = TokenCounter()
    window = tokens(msgs) // 3
    fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=4096,
                   counter=counter)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = fit_to_context(msgs, model="gpt-4o", context_window=window,
                                max_output=4096, counter=counter)
        times.append(time.perf_counter() - start)
    assert result.dropped > 0
    assert sorted(times)[2] < 0.1  # the target is 20 ms (bench/bench_tokens.py); CI is slower
