"""The text completions endpoint: `POST /completions` (base models, llama.cpp, vLLM), whole
or streamed.

The same connection, limits, deadline, redaction and status mapping as the chat endpoint
(`chat`), and the same values out, so the client's loop carries it unchanged: a
`ChatResponse` whose choices' message content is each choice's `text` (its `logprobs` kept
as sent), or `ChatDelta`s from `CompletionsDecoder`. No `<think>` splitting: a base
model's text is taken as it is. The retired `/engines/{engine}/completions` form is refused
before anything is sent (`refuse_engines`); a 404 from a server that serves no completions
for the model says what to use instead.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing, closing, contextmanager
from typing import Any, Protocol

from ..errors import APIConnectionError, ConfigError, NotFoundError, ResponseFormatError
from ..types import ChatDelta, ChatParams, ChatResponse, Usage
from ..types.completions import CompletionOptions
from .chat import _check, request_args
from .connection import AsyncConnection, Connection, ConnectionCore, HeadersCallback
from .decode import StreamDecoder
from .parse import _MAX_INDEX, _error, _int, _list, _obj, _str, _top, redacted
from .status_errors import error_from_event

__all__ = ["PATH", "CompletionsCall", "CompletionsDecoder", "acomplete", "astream",
           "completions_body", "complete", "parse_completion", "parse_completion_chunk",
           "refuse_engines", "stream"]

PATH = "completions"
# The sampling fields `/completions` shares with chat (the rest of `ChatParams` is chat's).
SHARED_FIELDS = ("model", "max_tokens", "temperature", "top_p", "n", "stop", "seed",
                 "presence_penalty", "frequency_penalty", "logit_bias", "user")
_ENGINES = re.compile(r"/engines/([^/?#]+)")
# OpenAI replaced engines with models on 2022-06-06 ("What happened to engines?", its help
# centre); the codex engines themselves were shut down later.
RETIRED = "engines gave way to models in June 2022"


class CompletionsCall(Protocol):
    """One request as this endpoint needs it (the backends' `ChatRequest` is one)."""

    @property
    def model(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def on_headers(self) -> HeadersCallback | None: ...

    @property
    def deadline(self) -> float | None: ...

    def to_completions_body(self, *, stream: bool) -> dict[str, Any]: ...


def completions_body(options: CompletionOptions, params: ChatParams, *,
                     stream: bool) -> dict[str, Any]:
    """The exact JSON body: `params` cut to the fields this endpoint takes
    (`max_completion_tokens` sent as `max_tokens`), then its `extra_body` as it is."""
    body: dict[str, Any] = {"model": params.model}
    body.update(options.to_body())
    shared = dataclasses.replace(params, extra_body=None).to_body()
    if "max_tokens" not in shared and shared.get("max_completion_tokens") is not None:
        shared["max_tokens"] = shared["max_completion_tokens"]
    for name in SHARED_FIELDS[1:]:
        if shared.get(name) is not None:
            body[name] = shared[name]
    body.update(params.extra_body or {})
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def refuse_engines(url: str) -> None:
    """A base URL in the retired `/engines/{engine}` form: refused, with the modern call."""
    found = _ENGINES.search(url)
    if found is None:
        return
    engine = found.group(1)
    base = url[:found.start()] or "https://api.openai.com/v1"
    raise ConfigError(
        f"the /engines/{engine}/completions endpoint was retired ({RETIRED}), so nothing "
        "was sent. The model is now a field of the body: talkline complete -m MODEL "
        f"(POST {base}/completions with \"model\": \"MODEL\")",
        hint=f"Give the base URL without /engines/... (here: --base-url {base}) and -m "
             "with a model the server serves. "
             + _openai_completions_models())


def _openai_completions_models() -> str:
    """What the catalog says of OpenAI's own completions models (`api = "completions"`):
    the ones still served, or when the last of them was shut down."""
    from ..planning.catalog import default_catalog

    rows = [m for m in default_catalog() if m.api == "completions"]
    live = [m.name for m in rows if m.retired is None]
    if live:
        return f"On OpenAI: {', '.join(live)}."
    last = max((m.retired for m in rows if m.retired), default=None)
    names = ", ".join(m.name for m in rows)
    return (f"OpenAI's own completions models ({names}) were retired on {last}: use a "
            "server that serves base models, such as llama.cpp or vLLM, or "
            "`talkline prompt` for a chat model.") if rows else ""


def _choice(raw: Any, path: str) -> dict[str, Any]:
    choice = dict(_obj(raw, path, optional=False))
    choice["index"] = _int(choice.get("index"), f"{path}.index", _MAX_INDEX) or 0
    choice["text"] = _str(choice.get("text"), f"{path}.text") or ""
    choice["finish_reason"] = _str(choice.get("finish_reason"), f"{path}.finish_reason")
    logprobs = choice.get("logprobs")
    if logprobs is not None:
        _obj(logprobs, f"{path}.logprobs", optional=False)
    return choice


def parse_completion(data: Any, *, request_id: str | None = None) -> ChatResponse:
    """A `text_completion` object, checked, as the `ChatResponse` the client carries."""
    top = _top(data)
    choices = [_choice(raw, f"choices[{i}]")
               for i, raw in enumerate(_list(top.get("choices"), "choices"))]
    if not choices:
        raise _error("choices", "empty: no answer came back")
    top["choices"] = [{"index": c["index"], "finish_reason": c["finish_reason"],
                       "logprobs": c.get("logprobs"),
                       "message": {"role": "assistant", "content": c["text"]}}
                      for c in choices]
    top.setdefault("object", "text_completion")
    return ChatResponse.from_dict(top, request_id=request_id).replace(raw=data)


def parse_completion_chunk(data: Any) -> list[ChatDelta]:
    """One streamed `text_completion` event as its deltas (several when n > 1)."""
    top = _top(data)
    model, cid = top.get("model"), top.get("id")
    out = [ChatDelta(index=c["index"], content=c["text"], finish_reason=c["finish_reason"],
                     model=model, id=cid)
           for c in (_choice(raw, f"choices[{i}]")
                     for i, raw in enumerate(_list(top.get("choices"), "choices")))]
    usage = Usage.from_dict(top.get("usage"))
    if usage is not None:
        out.append(ChatDelta(usage=usage, model=model, id=cid))
    return out


class CompletionsDecoder(StreamDecoder):
    """A `/completions` stream: `text` pieces, `[DONE]` at the end; no `<think>` split."""

    def _parse(self, chunk: Any) -> list[ChatDelta]:
        return parse_completion_chunk(chunk)

    def _split(self, delta: ChatDelta) -> ChatDelta:
        return delta

    def _whole_deltas(self, data: dict[str, Any]) -> list[ChatDelta]:
        response = parse_completion(data, request_id=self.request_id)
        out = [ChatDelta(index=c.index, content=c.message.text, model=response.model,
                         id=response.id, finish_reason=c.finish_reason or "stop")
               for c in response.choices]
        if response.usage is not None:
            out.append(ChatDelta(usage=response.usage, model=response.model, id=response.id))
        return out


def _args(call: CompletionsCall, *, stream: bool) -> dict[str, Any]:
    return request_args(call, call.to_completions_body(stream=stream), stream=stream)


@contextmanager
def _explained(conn: ConnectionCore) -> Iterator[None]:
    """A 404 that is not about the model's name: this server serves no completions for it."""
    refuse_engines(conn.base_url)
    try:
        yield
    except NotFoundError as exc:
        if exc.code == "model_not_found":
            raise
        raise NotFoundError(
            f"this server serves no text completions for this model (POST "
            f"{conn.url(PATH)} answered 404: {exc.message})",
            hint="For a chat model use `talkline prompt` (Chat Completions); for "
                 "`talkline complete` use a base or instruct model, or a server that "
                 "serves /v1/completions (llama.cpp, vLLM).",
            status=404, request_id=exc.request_id, code=exc.code, body=exc.body) from None


def _response(conn: ConnectionCore, data: dict[str, Any], request_id: str | None
              ) -> ChatResponse:
    if data.get("error") and not data.get("choices"):
        err = data["error"]
        raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                               request_id=request_id, redactor=conn.redactor)
    try:
        return parse_completion(data, request_id=request_id)
    except ResponseFormatError as exc:
        raise redacted(exc, conn.redactor) from None


def _decoder(conn: ConnectionCore, call: CompletionsCall, headers: Mapping[str, str]
             ) -> CompletionsDecoder:
    return CompletionsDecoder(model=call.model, request_id=headers.get("x-request-id"),
                              redactor=conn.redactor,
                              content_type=headers.get("content-type", ""),
                              max_event_bytes=conn.limits.max_event_bytes)


def complete(conn: Connection, call: CompletionsCall) -> ChatResponse:
    """One whole completion."""
    with _explained(conn):
        response = conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


def stream(conn: Connection, call: CompletionsCall) -> Iterator[ChatDelta]:
    """One streamed completion; StreamInterrupted if it ends unfinished."""
    with _explained(conn), conn.open("POST", PATH, **_args(call, stream=True)) as response:
        decoder = _decoder(conn, call, response.headers)
        try:
            with closing(conn.iter_text(response)) as texts:
                for text in texts:
                    yield from decoder.feed(text)
                    decoder.check()
                    if decoder.done:
                        break
                    _check(decoder, call.deadline)
        except APIConnectionError as exc:
            raise decoder.interrupted(exc) from None
        yield from decoder.finish()


async def acomplete(conn: AsyncConnection, call: CompletionsCall) -> ChatResponse:
    with _explained(conn):
        response = await conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


async def astream(conn: AsyncConnection, call: CompletionsCall) -> AsyncIterator[ChatDelta]:
    with _explained(conn):
        async with conn.open("POST", PATH, **_args(call, stream=True)) as response:
            decoder = _decoder(conn, call, response.headers)
            try:
                async with aclosing(conn.aiter_text(response)) as texts:
                    async for text in texts:
                        for delta in decoder.feed(text):
                            yield delta
                        decoder.check()
                        if decoder.done:
                            break
                        _check(decoder, call.deadline)
            except APIConnectionError as exc:
                raise decoder.interrupted(exc) from None
            for delta in decoder.finish():
                yield delta
