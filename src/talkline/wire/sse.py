"""An incremental Server-Sent Events decoder (pure, no I/O).

Follows the WHATWG rules that matter for chat streams: lines end in LF, CRLF or CR (a CR at
the end of one chunk may be the first half of a CRLF split across chunks); lines starting
with `:` are comments; several `data:` lines in one event are joined with `\\n`; an event
ends at a blank line. `finish()` reports an event left without its blank line, which is how
a truncated stream is told from a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EventTooLarge", "SSEDecoder", "ServerSentEvent"]


class EventTooLarge(ValueError):
    """One line or event grew past the decoder's `max_size` characters."""


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    def __init__(self, max_size: int | None = None) -> None:
        self.max_size = max_size
        self._buffer = ""
        self._pieces: list[str] = []  # a long line's chunks, joined once its end arrives
        self._pieces_len = 0
        self._data_len = 0
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
        if "\n" not in text and "\r" not in text:
            self._hold(text)  # no line ends here: keep the piece, join nothing (linear)
            return []
        if self._pieces:
            self._buffer += "".join(self._pieces)
            self._pieces, self._pieces_len = [], 0
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
        self._buffer = ""
        self._hold(buf[start:])
        return events

    def _hold(self, text: str) -> None:
        """Keep the start of an unfinished line; refuse one over `max_size`."""
        if not text:
            return
        self._pieces.append(text)
        self._pieces_len += len(text)
        if self.max_size is not None and len(self._buffer) + self._pieces_len > self.max_size:
            raise EventTooLarge(f"a stream line longer than {self.max_size:,} characters")

    @property
    def has_partial(self) -> bool:
        """True when bytes of an unfinished event are buffered."""
        return bool(self._buffer) or bool(self._pieces) or self._has_fields

    def finish(self) -> ServerSentEvent | None:
        """End of input: the event left unterminated, if any (a sign of truncation)."""
        rest = self._buffer + "".join(self._pieces)
        self._buffer, self._pieces, self._pieces_len = "", [], 0
        if rest:
            self._line(rest)
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
            self._data_len = 0
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
            self._data_len += len(value) + 1
            if self.max_size is not None and self._data_len > self.max_size:
                raise EventTooLarge(f"a stream event longer than {self.max_size:,} characters")
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
