"""Value types: validation messages name the accepted range; parsing is liberal."""

from __future__ import annotations

import pytest

from talkline.errors import ParamError
from talkline.types import ChatParams, ChatResponse, Message, as_messages, params_from_mapping


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 3.5}, "temperature must be between 0 and 2, got 3.5"),
        ({"top_p": -0.1}, "top_p must be between 0 and 1, got -0.1"),
        ({"n": 0}, "n must be between 1 and 128, got 0"),
        ({"n": 1.5}, "n must be a whole number, got 1.5"),
        ({"presence_penalty": 2.5}, "presence_penalty must be between -2 and 2, got 2.5"),
        ({"frequency_penalty": -3}, "frequency_penalty must be between -2 and 2, got -3"),
        ({"max_tokens": 0}, "max_tokens must be at least 1, got 0"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop takes at most 4 sequences, got 5"),
        ({"response_format": {"type": "yaml"}}, "response_format type must be one of"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort must be one of"),
        ({"top_logprobs": 3}, "top_logprobs needs logprobs=true"),
        ({"seed": "7"}, "seed must be a whole number"),
        ({"response_format": "json"}, "response_format must be an object"),
    ],
)
def test_params_are_validated_with_clear_messages(kwargs, message):
    with pytest.raises(ParamError) as info:
        ChatParams(**kwargs)
    assert message in str(info.value)


def test_param_error_is_a_value_error():
    with pytest.raises(ValueError):
        ChatParams(temperature=9)


def test_role_assistance_is_refused_with_a_hint():
    with pytest.raises(ParamError) as info:
        Message("assistance", "hi")
    assert "did you mean 'assistant'" in str(info.value)


def test_all_five_roles():
    for role in ("system", "developer", "user", "assistant", "tool"):
        assert Message(role, "x").to_dict()["role"] == role


def test_params_to_body_leaves_out_none_and_merges_extra():
    p = ChatParams(model="m", temperature=0, stop="END", extra_body={"top_k": 40})
    assert p.to_body() == {"model": "m", "temperature": 0, "stop": "END", "top_k": 40}


def test_params_from_mapping_coerces_strings():
    p = params_from_mapping({"temperature": "0.3", "n": "2", "logprobs": "true",
                             "response_format": '{"type": "json_object"}'})
    assert (p.temperature, p.n, p.logprobs) == (0.3, 2, True)
    assert p.response_format == {"type": "json_object"}
    with pytest.raises(ParamError):
        params_from_mapping({"temprature": 1})


def test_merge_refuses_unknown_names():
    with pytest.raises(ParamError):
        ChatParams().merge(temprature=1)


def test_response_keeps_unknown_fields_and_missing_ones_are_fine():
    r = ChatResponse.from_dict({"choices": [{"message": {"content": "hi", "audio": None},
                                             "weird": 1}], "novel": True})
    assert r.content == "hi" and r.extra == {"novel": True}
    assert r.choices[0].extra == {"weird": 1}
    assert r.usage is None and r.id == ""


def test_usage_details():
    r = ChatResponse.from_dict({"id": "x", "model": "m", "choices": [], "usage": {
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2}}})
    assert r.usage is not None
    assert (r.usage.cached_tokens, r.usage.reasoning_tokens) == (4, 2)


def test_as_messages():
    assert as_messages("hi") == [Message("user", "hi")]
    assert as_messages([{"role": "system", "content": "s"}])[0].role == "system"
    with pytest.raises(ParamError):
        as_messages([])
