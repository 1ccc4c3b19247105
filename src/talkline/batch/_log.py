"""Storing batch answers as conversations (`--log`), off the event loop.

Each answered line becomes one conversation, written in a single transaction
(`ConversationStore.import_messages`) by a background thread, so a slow disk never
stalls the requests. `close` waits for the queue to drain.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from typing import Any

from ..types import ChatResponse
from ..wire.parse import parse_chat_response

__all__ = ["ConversationLog"]

_STOP = object()


class ConversationLog:
    """Queue answers for the store; `failures` counts those that could not be stored."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.stored = 0
        self.failures = 0
        self.last_error: str | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="talkline-batch-log",
                                        daemon=True)
        self._thread.start()

    def add_response(self, body: Mapping[str, Any], response: ChatResponse,
                     cost: float | None, cost_estimated: bool, *, batch: bool = False) -> None:
        """One answered request (runs on the caller's thread: only builds a dict)."""
        usage = response.usage
        reply: dict[str, Any] = {
            **response.message.to_dict(),
            "role": "assistant",
            "model": response.model or body.get("model"),
            "requested_model": body.get("model"),
            "finish_reason": response.finish_reason,
            "request_id": response.request_id,
            "latency": response.latency,
            "cost": cost,
            "cost_estimated": cost_estimated,
            "batch": batch,
        }
        if usage is not None:
            reply.update(prompt_tokens=usage.prompt_tokens,
                         completion_tokens=usage.completion_tokens,
                         cached_tokens=usage.cached_tokens,
                         reasoning_tokens=usage.reasoning_tokens)
        self._queue.put((body, reply))

    def add_batch_line(self, body: Mapping[str, Any], response_body: Mapping[str, Any],
                       cost: float | None, cost_estimated: bool) -> None:
        """One answer fetched from the provider's Batch API (stored with `batch=1`)."""
        response = parse_chat_response(response_body, require_choice=False)
        self.add_response(body, response, cost, cost_estimated, batch=True)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self._store(*item)

    def _store(self, body: Mapping[str, Any], reply: dict[str, Any]) -> None:
        messages = [dict(m) for m in body.get("messages") or ()]
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        try:
            self.store.import_messages([*messages, reply], model=body.get("model"),
                                       params=params or None)
            self.stored += 1
        except Exception as exc:  # a full disk must not end the batch: count and go on
            self.failures += 1
            self.last_error = str(exc).split("\n", 1)[0]

    def close(self) -> None:
        """Store what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
