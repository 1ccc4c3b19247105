"""The body of a streamed chat answer, decoded (pure, no I/O): `StreamDecoder`.

An event stream gives `ChatDelta`s event by event, through the one parser (`parse`). A
server may also answer a streamed request with something else, with status 200: a JSON
error object (its error is raised, mapped like an error event), a whole JSON answer (some
servers ignore `stream: true`: it is taken, as deltas), or any other body (an error
quoting its start). What kind of body it is follows the Content-Type, and when that says
nothing useful (missing, `text/plain`), the first bytes.

A `<think>` block opening a choice's content is moved into its reasoning as it streams
(see `think`).

Text received before an error event is handed out before the error is raised, so what
the error counts ("after 8 characters") was shown and is kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..errors import (
    APIError,
    DeadlineExceeded,
    ResponseFormatError,
    ResponseTooLarge,
    ServerError,
    StreamInterrupted,
    TalklineError,
)
from ..types import ChatDelta, ToolCallDelta
from .accumulate import StreamAccumulator
from .jsonload import loads
from .limits import too_large
from .parse import parse_chat_response, parse_chunk, redacted
from .redact import Redactor, SplitGuard
from .sse import EventTooLarge, SSEDecoder
from .status_errors import error_from_event
from .think import ThinkSplitter

__all__ = ["MAX_WHOLE_BODY", "StreamDecoder", "body_kind"]

Kind = Literal["sse", "json", "other", "sniff"]
# A whole JSON answer to a streamed request is read up to this size.
MAX_WHOLE_BODY = 8 << 20
_EXCERPT = 200
_SSE_STARTS = ("data:", "event:", "id:", "retry:", ":")


def body_kind(content_type: str) -> Kind:
    """What a streamed answer's body is, by its Content-Type ("sniff": look at it)."""
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct == "text/event-stream":
        return "sse"
    if ct == "application/json" or ct.endswith("+json"):
        return "json"
    if ct in ("", "text/plain", "application/octet-stream"):
        return "sniff"
    return "other"


def _sniff(text: str) -> Kind:
    start = text.lstrip()
    if start.startswith(("{", "[")):
        return "json"
    if start.startswith(_SSE_STARTS):
        return "sse"
    return "other"


def _deltas(data: dict[str, Any], request_id: str | None) -> list[ChatDelta]:
    """A whole answer as the deltas a stream of it would have sent."""
    response = parse_chat_response(data, request_id=request_id)
    out = []
    for choice in response.choices:
        msg = choice.message
        calls = tuple(ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
                      for i, c in enumerate(msg.tool_calls))
        out.append(ChatDelta(index=choice.index, content=msg.text, role=msg.role,
                             tool_calls=calls, finish_reason=choice.finish_reason or "stop",
                             refusal=msg.refusal, model=response.model, id=response.id,
                             reasoning=msg.reasoning or ""))
    if response.usage is not None:
        out.append(ChatDelta(usage=response.usage, model=response.model, id=response.id))
    return out


class StreamDecoder:
    """Bytes of a chat stream in, `ChatDelta`s out; knows when a stream is complete.
    `content_type`: the answer's Content-Type (default: an event stream). A dialect
    (`responses_decode`) overrides `_event`, `_whole` and these two texts."""

    done_marker: str | None = "[DONE]"
    unfinished = "the stream ended without a finish reason or [DONE]"
    # The field a whole answer sent to a streamed request has (a server that ignores
    # `stream`): `_whole_deltas` turns it into deltas.
    whole_key = "choices"

    def __init__(self, *, model: str = "", request_id: str | None = None,
                 redactor: Redactor | None = None,
                 content_type: str = "text/event-stream",
                 max_event_bytes: int | None = None) -> None:
        self._sse = SSEDecoder(max_event_bytes)
        self._redactor = redactor or Redactor(())
        self._answer = redactor.answer() if redactor else None
        self.acc = StreamAccumulator(model=model)
        self.done = False
        self.request_id = request_id
        self.kind: Kind = body_kind(content_type)
        self._content_type = content_type
        self._body: list[str] = []
        self._body_size = 0
        self.error: StreamInterrupted | None = None
        self._think: dict[int, ThinkSplitter] = {}
        # Per choice and field (content, reasoning): a key split across chunks (see
        # `SplitGuard`); none when there is no secret to look for.
        self._guards: dict[tuple[int, str], SplitGuard] = {}

    def feed(self, text: str) -> list[ChatDelta]:
        """The deltas `text` completes. After an error event, `error` is set (raise it
        with `check` once these deltas are shown)."""
        if self.done or self.error is not None:
            return []
        if self.kind == "sniff" and text.strip():
            self.kind = _sniff(text)
        if self.kind != "sse":
            self._body.append(text)
            self._body_size += len(text)
            if self.kind == "other" and self._body_size >= _EXCERPT:
                raise self._not_a_stream()
            if self._body_size > MAX_WHOLE_BODY:
                raise ResponseFormatError(
                    f"the server answered a streamed request with a body of more than "
                    f"{MAX_WHOLE_BODY} characters that is not an event stream",
                    status=200, request_id=self.request_id)
            return []
        out: list[ChatDelta] = []
        try:
            events = self._sse.feed(text)
        except EventTooLarge:
            limit = self._sse.max_size or 0
            raise self.interrupted(too_large("one stream event", limit, "max_event_bytes")
                                   ) from None
        for event in events:
            data = event.data.strip()
            if data == self.done_marker:
                self.done = True
                break
            if data and self._event(data, out):
                break
        return out

    def _event(self, data: str, out: list[ChatDelta]) -> bool:
        """Add one event's deltas to `out`; True when it was an error (now in `error`)."""
        try:
            chunk = loads(data)
        except ValueError:
            shown = self._redactor.text(data[:80])
            self.error = self.interrupted(
                ServerError(f"the server sent a stream event that is not JSON: {shown!r}"))
            return True
        if self._answer is not None and isinstance(chunk, dict):
            chunk = self._answer.value(chunk)
        if isinstance(chunk, dict) and chunk.get("error"):
            err = chunk["error"]
            self.error = self.interrupted(error_from_event(
                err if isinstance(err, dict) else {"message": str(err)},
                request_id=self.request_id, redactor=self._redactor))
            return True
        try:
            deltas = self._parse(chunk)
        except ResponseFormatError as exc:
            self.error = self.interrupted(redacted(exc, self._redactor))
            return True
        if deltas and isinstance(chunk, dict):  # a chunk with no choice and no usage
            raw = self._guarded_raw(chunk)  # has none: not relayed
            deltas[0] = dataclasses.replace(deltas[0], raw=raw)
        for delta in deltas:
            delta = self._guarded(self._split(delta))
            self.acc.add(delta)
            out.append(delta)
        return False

    def _guarded_raw(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """The chunk as a relay sends it on: its choices' texts through guards of their
        own (the deltas' texts may differ: a `<think>` block moves), so a secret sent in
        pieces is replaced whole there too; unchanged when nothing had to be."""
        if self._answer is None or not self._answer.forms:
            return chunk
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return chunk
        out: list[Any] = []
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                out.append(choice)
                continue
            new = dict(delta)
            index = choice.get("index") if isinstance(choice.get("index"), int) else 0
            for name in ("content", "reasoning_content", "reasoning"):
                text = delta.get(name)
                guard = self._guards.get((index, f"raw:{name}"))
                if guard is None and not (isinstance(text, str) and text):
                    continue
                if guard is None:
                    guard = self._guards[(index, f"raw:{name}")] = SplitGuard(self._answer)
                shown = guard.feed(text) if isinstance(text, str) else ""
                if choice.get("finish_reason"):
                    shown += guard.flush()
                if name in delta or shown:
                    new[name] = shown
            out.append({**choice, "delta": new} if new != delta else choice)
        return {**chunk, "choices": out} if out != choices else chunk

    def _guarded(self, delta: ChatDelta) -> ChatDelta:
        """`delta`'s texts with a secret sent in pieces replaced whole (`SplitGuard`); at
        its choice's finish, what the guards held is given back."""
        if self._answer is None or not self._answer.forms:
            return delta
        texts: dict[str, str] = {}
        for name in ("content", "reasoning"):
            text = getattr(delta, name) or ""
            guard = self._guards.get((delta.index, name))
            if guard is None and not text:
                continue
            if guard is None:
                guard = self._guards[(delta.index, name)] = SplitGuard(self._answer)
            shown = guard.feed(text) if text else ""
            texts[name] = shown + guard.flush() if delta.finish_reason else shown
        content = texts.get("content", delta.content)
        reasoning = texts.get("reasoning", delta.reasoning)
        if (content, reasoning) == (delta.content, delta.reasoning):
            return delta
        return dataclasses.replace(delta, content=content, reasoning=reasoning)

    def _parse(self, chunk: Any) -> list[ChatDelta]:
        """One event's deltas (the chat endpoint's chunk; a dialect parses its own)."""
        return parse_chunk(chunk)

    def _split(self, delta: ChatDelta) -> ChatDelta:
        """`delta` with an opening `<think>` block's text moved to its reasoning."""
        if delta.usage is not None:
            return delta
        splitter = self._think.setdefault(delta.index, ThinkSplitter())
        reasoning, content = splitter.feed(delta.content) if delta.content else ("", "")
        if delta.finish_reason:
            more_reasoning, more_content = splitter.flush()
            reasoning, content = reasoning + more_reasoning, content + more_content
        if (reasoning, content) == ("", delta.content):
            return delta
        return dataclasses.replace(delta, content=content, reasoning=delta.reasoning + reasoning)

    def _held(self) -> list[ChatDelta]:
        """What the `<think>` splitters still hold at the end of the stream."""
        out = []
        for index, splitter in sorted(self._think.items()):
            reasoning, content = splitter.flush()
            if reasoning or content:
                out.append(self._guarded(ChatDelta(index=index, content=content,
                                                   reasoning=reasoning)))
                self.acc.add(out[-1])
        for (index, name), guard in sorted(self._guards.items()):
            if name.startswith("raw:"):
                continue  # a relayed chunk's: its finish chunk took what they held
            rest = guard.flush()
            if rest:
                out.append(ChatDelta(index=index, content=rest) if name == "content"
                           else ChatDelta(index=index, reasoning=rest))
                self.acc.add(out[-1])
        return out

    def check(self) -> None:
        """Raise the error an event brought, if any."""
        if self.error is not None:
            raise self.error

    @property
    def complete(self) -> bool:
        return self.done or self.acc.finished

    def interrupted(self, cause: BaseException | None = None) -> StreamInterrupted:
        partial = self.acc.text(0)
        tokens = self.acc.usage.completion_tokens if self.acc.usage else 0
        if isinstance(cause, (ResponseTooLarge, DeadlineExceeded)):
            what = cause.message
        elif cause is not None and not isinstance(cause, APIError):
            what = f"the connection broke ({cause})"
        elif cause is not None:
            what = f"the server sent an error: {cause.message}"
        else:
            what = self.unfinished
        got = f" after {len(partial)} characters" if partial else " before any content"
        return StreamInterrupted(
            f"Stream interrupted{got}: {what}",
            partial=partial,
            partials=self.acc.texts(),
            cause=cause,
            completion_tokens=tokens,
            hint=cause.hint if isinstance(cause, TalklineError) else None,
        )

    def finish(self) -> list[ChatDelta]:
        """End of the byte stream: the deltas of a whole JSON answer, if that is what
        came; else raise StreamInterrupted unless the stream was complete."""
        self.check()
        if self.kind in ("json", "other"):
            return self._whole()
        if not self.done:
            leftover = self._sse.finish()
            if leftover is not None and leftover.data.strip() == self.done_marker:
                self.done = True
            elif not self.acc.finished:
                raise self.interrupted()
        if not self.acc.texts() and not self.acc.has_content:
            raise ResponseFormatError(
                "the server's stream ended without any choice: no answer came back",
                hint="Check that the base URL points at an OpenAI-compatible server.",
                status=200, request_id=self.request_id)
        return self._held()

    def _not_a_stream(self) -> ResponseFormatError:
        text = "".join(self._body)
        excerpt = self._redactor.text(" ".join(text.split())[:_EXCERPT])
        what = self._content_type.split(";", 1)[0].strip() or "no Content-Type"
        return ResponseFormatError(
            f"the server answered a streamed request with {what} instead of an event "
            f"stream: {excerpt!r}" if excerpt else
            f"the server answered a streamed request with an empty {what} body",
            hint="Check the base URL: a proxy or a server that is not OpenAI-compatible "
                 "may be answering.", status=200, request_id=self.request_id)

    def _whole_deltas(self, data: dict[str, Any]) -> list[ChatDelta]:
        """A whole answer sent to a streamed request, as deltas (the chat endpoint's)."""
        return _deltas(data, self.request_id)

    def _whole(self) -> list[ChatDelta]:
        text = "".join(self._body)
        try:
            data = loads(text) if self.kind == "json" else None
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("error"):
            err = data["error"]
            raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                                   request_id=self.request_id, redactor=self._redactor)
        if not isinstance(data, dict) or self.whole_key not in data:
            raise self._not_a_stream()
        try:
            deltas = self._whole_deltas(data)
        except ResponseFormatError as exc:
            raise redacted(exc, self._redactor) from None
        for delta in deltas:
            self.acc.add(delta)
        self.done = True
        return deltas
