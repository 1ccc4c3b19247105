"""How the scripted server answers `POST /v1/responses`: the same `Reply`, `Error` and
`Fault` actions as for chat, in the Responses API's dialect (`_responses_api`), with typed
events (`event:` and `data:` lines, `sequence_number`s from 0). `owner.responses_api =
False` makes it a compatible server without this endpoint (404)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._actions import Error, Fault, Reply
from ._render import dumps
from ._responses import ClientGone, Responder
from ._responses_api import input_text, response_events, response_object

__all__ = ["ResponsesResponder"]


class ResponsesResponder(Responder):
    """The `/v1/responses` half of the handler."""

    _sequence = 0

    def _responses(self, body: Any) -> None:
        if not self.owner.responses_api:
            self._send_error(Error(404, "Invalid URL (POST /v1/responses)",
                                   "invalid_request_error"), counted=True)
            return
        if not isinstance(body, Mapping) or "model" not in body:
            self._send_error(Error(400, "Missing required parameter: 'model'.",
                                   "invalid_request_error", "missing_required_parameter",
                                   "model"), counted=True)
            return
        action = self.owner.next_action(body)
        if isinstance(action, Reply) and action.content == "Echo: ":  # the default answer
            action = Reply(content=f"Echo: {input_text(body)}")
        self._respond(action, body)

    def _respond(self, action: Reply | Error | Fault, body: Mapping[str, Any]) -> None:
        stream = bool(body.get("stream"))
        if isinstance(action, Error):
            self._send_error(action, counted=True)
        elif isinstance(action, Reply):
            self.owner.count("ok")
            if stream:
                self._typed_stream(action, body, cut_after=None)
            else:
                self._send_json(200, response_object(action, body, self.owner.model),
                                action.headers)
        elif action.kind == "slow_first_byte":
            if not self.owner.sleep(action.seconds):
                raise ClientGone
            self._respond(action.then or Reply(), body)
        elif action.kind == "error_event" and not stream:
            self._send_error(action.as_error(), counted=True)
        elif not stream:  # a body cut short: Content-Length promises more than comes
            self.owner.count("faults")
            data = dumps(response_object(action.reply, body, self.owner.model)).encode()
            self.send_response(200)
            self._headers("application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self._write(data[: len(data) // 2])
            raise ClientGone
        else:
            self.owner.count("faults")
            self._typed_stream(action.reply, body, cut_after=action.after_chunks or 0,
                               fault=action)

    def _typed(self, event: dict[str, Any]) -> None:
        event = {**event, "sequence_number": self._sequence}
        self._sequence += 1
        self.owner.record_event(event)
        le = self.owner.sse_line_ending
        self._chunk(f"event: {event['type']}{le}data: {dumps(event)}{le}{le}".encode())

    def _typed_stream(self, reply: Reply, body: Mapping[str, Any], *,
                      cut_after: int | None, fault: Fault | None = None) -> None:
        events = response_events(reply, body, self.owner.model)
        self._sequence = 0
        self._start_stream(reply.headers)
        for event in events.head:
            self._typed(event)
        for event in events.body[:cut_after] if cut_after is not None else events.body:
            if not self.owner.sleep(reply.chunk_delay):
                raise ClientGone
            self._typed(event)
        if fault is None:
            for event in events.tail:
                self._typed(event)
        elif fault.kind == "reset":
            self._rst()
        elif fault.kind == "stall" and not self.owner.sleep(fault.seconds):
            raise ClientGone
        elif fault.kind == "error_event":
            err = fault.as_error()
            self._typed({"type": "error", "code": err.code or err.type,
                         "message": err.message, "param": err.param})
        self._end_stream()
