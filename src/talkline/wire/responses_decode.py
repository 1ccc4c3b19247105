"""The body of a streamed Responses API answer, decoded (pure, no I/O).

`ResponsesDecoder` is the chat `StreamDecoder` with this API's typed events: the same
SSE decoder, size limits, redaction and completeness rule, so everything above the wire
sees the same `ChatDelta`s as from a chat stream:

- `response.output_text.delta` -> content; `response.reasoning_summary_text.delta` ->
  `ChatDelta.reasoning`; a finished `reasoning` item (`response.output_item.done`) ->
  `ChatDelta.reasoning_items` (its `encrypted_content` is whole only there);
- `response.output_item.added` of a function call, its `function_call_arguments.delta`s
  and `.done` -> tool-call deltas keyed by `output_index` (with the `call_id` as id);
- `response.completed` -> finish `stop` (`tool_calls` when the output has function
  calls) and the usage; `response.incomplete` -> `length` for `max_output_tokens`
  (`content_filter` for that reason); `response.failed` and `error` -> the API error;
- any other event type is ignored.

There is no `[DONE]`: a stream that ends before completed, incomplete or failed is
broken (`StreamInterrupted`), never taken as complete.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ResponseFormatError
from ..types import ChatDelta, ToolCallDelta
from .decode import StreamDecoder
from .jsonload import loads
from .parse import _int, _obj, _str, redacted
from .redact import SplitGuard
from .responses_parse import (
    failed_error,
    finish_reason,
    output_parts,
    parse_response,
    parse_response_usage,
    reasoning_input,
)
from .status_errors import error_from_event

__all__ = ["ResponsesDecoder", "whole_deltas"]

_TERMINAL = ("response.completed", "response.incomplete")


def whole_deltas(response: Any, request_id: str | None) -> list[ChatDelta]:
    """A whole response as the deltas a stream of it would have sent."""
    resp = parse_response(response, request_id=request_id)
    msg = resp.message
    calls = tuple(ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
                  for i, c in enumerate(msg.tool_calls))
    out = [ChatDelta(content=msg.text, role="assistant", tool_calls=calls,
                     reasoning=msg.reasoning or "", reasoning_items=msg.reasoning_items,
                     finish_reason=resp.finish_reason, model=resp.model, id=resp.id,
                     response_id=resp.id or None)]
    if resp.usage is not None:
        out.append(ChatDelta(usage=resp.usage, model=resp.model, id=resp.id))
    return out


class ResponsesDecoder(StreamDecoder):
    """Bytes of a Responses API stream in, `ChatDelta`s out."""

    done_marker = None
    unfinished = ("the stream ended without response.completed, response.incomplete "
                  "or response.failed")
    whole_key = "output"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._args: dict[int, str] = {}  # each function call's arguments so far
        self._summaries: set[str] = set()  # reasoning items whose summary was streamed
        self._summary_at: tuple[str, int] | None = None
        self._texts = 0

    def _event(self, data: str, out: list[ChatDelta]) -> bool:
        try:
            event = loads(data)
        except ValueError:
            return super()._event(data, out)  # the chat decoder's "not JSON" error
        if self._answer is not None:
            event = self._answer.value(event)
        try:
            if not isinstance(event, dict):
                raise ResponseFormatError(
                    f"the server sent a stream event that is not an object: {data[:80]!r}",
                    status=200)
            kind = _str(event.get("type"), "type") or ""
            if kind == "error":
                err = {k: event.get(k) for k in ("message", "code", "param")}
                err["type"] = event.get("code") if event.get("code") else "server_error"
                self.error = self.interrupted(error_from_event(
                    err, request_id=self.request_id, redactor=self._redactor))
                return True
            if kind == "response.failed":
                self.error = self.interrupted(failed_error(
                    _obj(event.get("response"), "response"),
                    request_id=self.request_id, redactor=self._redactor))
                return True
            deltas = self._deltas(kind, event)
        except ResponseFormatError as exc:
            self.error = self.interrupted(redacted(exc, self._redactor))
            return True
        for delta in deltas:
            delta = self._guarded(delta)
            self.acc.add(delta)
            out.append(delta)
        event = self._guarded_event(kind, event)
        if out and deltas:  # the event as it came, for a relay (`ChatDelta.raw`)
            out[-len(deltas)] = dataclasses.replace(out[-len(deltas)], raw=event)
        else:  # an event with nothing to show (in_progress, item added...): relayed too
            out.append(ChatDelta(raw=event))
        return False

    def _guarded_event(self, kind: str, event: dict[str, Any]) -> dict[str, Any]:
        """A `*.delta` event as a relay sends it on, its `delta` text through a guard of
        its own (per item and part), so a secret sent in pieces does not come out whole.
        What a guard still holds when its part is done (six or more characters that begin
        a secret and never completed it) is not sent as a delta: the part's `*.done` event
        carries the whole text, redacted."""
        text = event.get("delta")
        if self._answer is None or not self._answer.forms or not kind.endswith(".delta") \
                or not isinstance(text, str):
            return event
        found = event.get("output_index")
        index = found if isinstance(found, int) else 0
        name = f"raw:{kind}:{event.get('item_id')}:{event.get('content_index')}"
        guard = self._guards.get((index, name))
        if guard is None:
            guard = self._guards[(index, name)] = SplitGuard(self._answer)
        shown = guard.feed(text)
        return event if shown == text else {**event, "delta": shown}

    def _deltas(self, kind: str, event: dict[str, Any]) -> list[ChatDelta]:
        if kind == "response.created":
            resp = _obj(event.get("response"), "response")
            rid = _str(resp.get("id"), "response.id")
            return [ChatDelta(role="assistant", id=rid, response_id=rid,
                              model=_str(resp.get("model"), "response.model"))]
        if kind == "response.output_text.delta":
            text = _str(event.get("delta"), "delta") or ""
            self._texts += len(text)
            return [ChatDelta(content=text)] if text else []
        if kind == "response.reasoning_summary_text.delta":
            return self._summary(event)
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(kind, event)
        if kind == "response.function_call_arguments.delta":
            index = self._index(event)
            piece = _str(event.get("delta"), "delta") or ""
            self._args[index] = self._args.get(index, "") + piece
            return [ChatDelta(tool_calls=(ToolCallDelta(index=index, arguments=piece),))]
        if kind in _TERMINAL:
            return self._end(event)
        return []  # unknown and purely informative events

    def _index(self, event: dict[str, Any]) -> int:
        return _int(event.get("output_index"), "output_index", 10**6) or 0

    def _summary(self, event: dict[str, Any]) -> list[ChatDelta]:
        item = _str(event.get("item_id"), "item_id") or ""
        part = _int(event.get("summary_index"), "summary_index", 10**6) or 0
        text = _str(event.get("delta"), "delta") or ""
        gap = "\n\n" if self._summary_at is not None and self._summary_at != (item, part) \
            else ""
        self._summary_at = (item, part)
        self._summaries.add(item)
        return [ChatDelta(reasoning=gap + text)] if text else []

    def _item(self, kind: str, event: dict[str, Any]) -> list[ChatDelta]:
        item = _obj(event.get("item"), "item", optional=False)
        index = self._index(event)
        what = _str(item.get("type"), "item.type")
        if what == "function_call":
            args = _str(item.get("arguments"), "item.arguments") or ""
            sent = self._args.get(index)
            if sent is None:  # the call starts: its id and name
                self._args[index] = args
                return [ChatDelta(tool_calls=(ToolCallDelta(
                    index=index, id=_str(item.get("call_id"), "item.call_id"),
                    name=_str(item.get("name"), "item.name"), arguments=args),))]
            if kind.endswith(".done") and args.startswith(sent) and len(args) > len(sent):
                self._args[index] = args  # the rest, when deltas were fewer than the whole
                return [ChatDelta(tool_calls=(ToolCallDelta(index=index,
                                                            arguments=args[len(sent):]),))]
            return []
        if what == "reasoning" and kind.endswith(".done"):
            out = [ChatDelta(reasoning_items=(reasoning_input(item),))]
            rid = _str(item.get("id"), "item.id") or ""
            if rid not in self._summaries:
                _, _, text, _ = output_parts([item], "item")
                if text:
                    out.insert(0, ChatDelta(reasoning=text))
            return out
        return []

    def _end(self, event: dict[str, Any]) -> list[ChatDelta]:
        resp = _obj(event.get("response"), "response", optional=False)
        text, calls, _, _ = output_parts(resp.get("output"), "response.output")
        out: list[ChatDelta] = []
        if text and not self._texts:  # a server that sends the text only here
            out.append(ChatDelta(content=text))
        has_calls = bool(calls) or bool(self._args)
        reason = finish_reason(_str(resp.get("status"), "response.status"),
                               resp.get("incomplete_details"), has_calls)
        rid = _str(resp.get("id"), "response.id")
        out.append(ChatDelta(finish_reason=reason, response_id=rid))
        usage = parse_response_usage(resp.get("usage"), "response.usage")
        if usage is not None:
            out.append(ChatDelta(usage=usage))
        self.done = True
        return out

    def _whole_deltas(self, data: dict[str, Any]) -> list[ChatDelta]:
        """A whole `response` object sent to a streamed request, as deltas."""
        return whole_deltas(data, self.request_id)
