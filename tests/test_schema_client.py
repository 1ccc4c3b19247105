"""`schema=` on `Client` and `AsyncClient` over real HTTP against the scripted server:
the strict response_format sent (valid against the official request schema), `.parsed`,
an invalid reply retried once with its problem named then raised, a reply cut by the
token limit retried with twice the limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from openapi_schema import validate
from talkline.client import AsyncClient, Client
from talkline.errors import SchemaValidationError
from talkline.testing import Reply

KEY = "sk-test-fake-schema"
GOOD = '{"city": "Paris", "country": "France"}'


def client(server: Any, **kw: Any) -> Client:
    return Client(api_key=KEY, base_url=server.url, sleep=lambda s: None, **kw)


def schema_notes(notes: list[str]) -> list[str]:
    """The notes of the schema check: not the catalog's word on the default model's
    shutdown (it comes within 30 days of one: tests/test_catalog_facts.py checks it)."""
    return [n for n in notes if " retired " not in n]


def bodies(server: Any) -> list[dict[str, Any]]:
    out = [r.body for r in server.chat_requests]
    for body in out:
        validate("CreateChatCompletionRequest", body)
    return out


def test_the_request_has_the_strict_response_format_and_parsed_is_the_dict(server) -> None:
    server.script(Reply(GOOD))
    with client(server) as c:
        reply = c.complete("Name a city", schema="city, country")
    assert reply.parsed == {"city": "Paris", "country": "France"}
    (body,) = bodies(server)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "reply", "strict": True, "schema": {
            "type": "object", "properties": {"city": {"type": "string"},
                                             "country": {"type": "string"}},
            "required": ["city", "country"], "additionalProperties": False}}}


def test_a_pydantic_model_gives_an_instance(server) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Place(pydantic.BaseModel):
        city: str
        country: str

    server.script(Reply(GOOD))
    with client(server) as c:
        reply = c.complete("Name a city", schema=Place)
    assert isinstance(reply.parsed, Place) and reply.parsed.city == "Paris"
    assert bodies(server)[0]["response_format"]["json_schema"]["name"] == "Place"


def test_an_invalid_reply_is_retried_once_with_the_problem_then_parsed(server) -> None:
    notes: list[str] = []
    server.script(Reply('{"items": [{"price": 1}, {"price": 2}, {"price": "x"}]}'),
                  Reply('{"items": [{"price": 1}, {"price": 2}, {"price": 3.5}]}'))
    with client(server, on_warning=notes.append) as c:
        reply = c.complete("Prices", schema="items [{price float}]")
    assert reply.parsed == {"items": [{"price": 1}, {"price": 2}, {"price": 3.5}]}
    first, second = bodies(server)
    assert second["messages"][:-2] == first["messages"]
    assert second["messages"][-2] == {
        "role": "assistant", "content": '{"items": [{"price": 1}, {"price": 2}, {"price": "x"}]}'}
    fix = second["messages"][-1]
    assert fix["role"] == "user"
    assert "$.items[2].price: 'x' is not of type 'number'" in fix["content"]
    assert schema_notes(notes) == [
        "schema: the reply does not match ($.items[2].price: 'x' is not of type 'number'); "
        "asking once more"]


def test_a_retry_counts_the_tokens_of_both_requests(server) -> None:
    """Both requests were paid for: the answer's total_usage holds both (what is stored
    and costed; tests/test_schema_cli.py checks the store after a failed retry)."""
    def usage(p: int, c: int) -> dict[str, int]:
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    server.script(Reply("not json", usage=usage(10, 3)), Reply(GOOD, usage=usage(30, 9)))
    with client(server) as c:
        reply = c.complete("Name a city", schema="city, country")
    assert reply.usage is not None and reply.usage.total_tokens == 39
    assert reply.total_usage is not None
    assert (reply.total_usage.prompt_tokens, reply.total_usage.completion_tokens) == (40, 12)


def test_an_invalid_reply_twice_raises_with_the_path_and_the_reply(server) -> None:
    server.script(Reply("not json at all"), Reply('{"city": 3, "country": "France"}'))
    with client(server) as c, pytest.raises(SchemaValidationError) as caught:
        c.complete("Name a city", schema="city, country")
    error = caught.value
    assert error.path == "$.city"
    assert "does not match the schema, even after a retry: $.city: 3 is not of type " \
           "'string'" in error.message
    assert "simpler schema" in (error.hint or "")
    assert error.response.content == '{"city": 3, "country": "France"}'
    assert len(server.chat_requests) == 2  # retried once, no more


def test_a_reply_cut_by_the_limit_is_retried_with_twice_the_limit(server) -> None:
    server.script(Reply('{"city": "Par', finish_reason="length"), Reply(GOOD))
    with client(server) as c:
        reply = c.complete("Name a city", schema="city, country", max_tokens=50)
    assert reply.parsed["city"] == "Paris"
    first, second = bodies(server)
    assert (first["max_tokens"], second["max_tokens"]) == (50, 100)
    assert second["messages"] == first["messages"]


def test_a_reply_cut_twice_is_never_returned_as_valid(server) -> None:
    server.script(Reply('{"city": "Par', finish_reason="length"),
                  Reply('{"city": "Paris", "coun', finish_reason="length"))
    with client(server) as c, pytest.raises(SchemaValidationError) as caught:
        c.complete("Name a city", schema="city, country", max_tokens=50)
    assert "cut by the token limit again at 100 tokens (finish_reason: length)" in \
        caught.value.message
    assert "Raise --max-tokens" in (caught.value.hint or "")


def test_a_schema_that_cannot_be_strict_warns_and_is_sent_non_strict(server) -> None:
    notes: list[str] = []
    schema = {"type": "object", "properties": {"a": {"type": "string"}},
              "patternProperties": {"^x": {"type": "string"}}}
    server.script(Reply('{"a": "b"}'))
    with client(server, on_warning=notes.append) as c:
        assert c.complete("hi", schema=schema).parsed == {"a": "b"}
    sent = bodies(server)[0]["response_format"]["json_schema"]
    assert sent["strict"] is False and sent["schema"] == schema
    assert schema_notes(notes) == [
        "the schema cannot be strict: $ uses 'patternProperties', which strict mode does not "
        "support; it is sent non-strict"]


def test_stream_checks_the_final_response_and_restarts_on_retry(server) -> None:
    server.script(Reply('{"city": 1}'), Reply(GOOD))
    with client(server) as c:
        stream = c.stream("Name a city", schema="city, country")
        deltas = list(stream)
    assert any(d.restart for d in deltas)
    after = deltas[[d.restart for d in deltas].index(True) + 1:]
    assert json.loads("".join(d.content for d in after)) == stream.response.parsed


def test_async_client_parses_and_retries_the_same_way(server) -> None:
    server.script(Reply("oops"), Reply(GOOD))

    async def main() -> Any:
        async with AsyncClient(api_key=KEY, base_url=server.url) as c:
            return await c.complete("Name a city", schema="city, country")

    assert asyncio.run(main()).parsed == {"city": "Paris", "country": "France"}
    assert len(bodies(server)) == 2
