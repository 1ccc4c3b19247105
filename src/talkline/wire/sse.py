"""An incremental Server-Sent Events decoder (pure, no I/O).

Follows the WHATWG rules that matter for chat streams: lines end in LF, CRLF or CR (a CR at
the end of one chunk may be the first half of a CRLF split across chunks); lines starting
with `:` are comments; several `data:` lines in one event are joined with `\\n`; an event
ends at a blank line. `finish()` reports an event left without its blank line, which is how
a truncated stream is told from a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = ""
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._has_fields = False

    def feed(self, text: str) -> list[ServerSentEvent]:
        """Decode a chunk of text; return the events it completed."""
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        self._buffer += text
        events: list[ServerSentEvent] = []
        buf = self._buffer
        start = 0
        n = len(buf)
        while start < n:
            cr = buf.find("\r", start)
            lf = buf.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, nxt = lf, lf + 1
            else:
                end = cr
                if cr + 1 < n:
                    nxt = cr + 2 if buf[cr + 1] == "\n" else cr + 1
                else:
                    nxt = cr + 1
                    self._pending_cr = True
            event = self._line(buf[start:end])
            if event is not None:
                events.append(event)
            start = nxt
        self._buffer = buf[start:]
        return events

    @property
    def has_partial(self) -> bool:
        """True when bytes of an unfinished event are buffered."""
        return bool(self._buffer) or self._has_fields

    def finish(self) -> ServerSentEvent | None:
        """End of input: the event left unterminated, if any (a sign of truncation)."""
        if self._buffer:
            self._line(self._buffer)
            self._buffer = ""
        if self._has_fields and self._data:
            return ServerSentEvent("\n".join(self._data), self._event or "message", self._id)
        return None

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            if not self._has_fields:
                return None
            event = ServerSentEvent(
                "\n".join(self._data), self._event or "message", self._id, self._retry
            )
            self._data = []
            self._event = ""
            self._retry = None
            self._has_fields = False
            return event if event.data or event.event != "message" else None
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_fields = True
        elif name == "event":
            self._event = value
            self._has_fields = True
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        return None
