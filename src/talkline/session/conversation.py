"""A conversation that remembers: history, parameters, persistence around each turn.

`ChatSession` joins a `Client` and a `ConversationStore`. Each turn stores the user's
message *before* the request is sent (a crash never loses what was typed), streams the
reply, and stores it when it ends, whether complete, interrupted or failed. Replies that
did not complete are kept but not sent back to the model as if they were answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..client._tools import DEFAULT_CHAIN_LIMIT, ToolOptions
from ..errors import ConfigError, ContextLengthExceededError, TalklineError
from ..tools import Approve, ToolResult
from ..types import ChatParams, Message, params_from_mapping
from ._replies import Completion, response_fields
from ._summaries import SUMMARY_INSTRUCTIONS as SUMMARY_INSTRUCTIONS
from ._summaries import stored_summary, summarize
from ._tool_messages import answered_calls_only, store_tool_messages
from .turn import Turn as Turn

if TYPE_CHECKING:
    from ..attachments import Attachment
    from ..client import ChatStream, Client
    from ..planning.context import Summary as Summary
    from ..planning.preflight import Preflight, Prepared
    from ..schema import Structured
    from ..store import Conversation as StoredConversation
    from ..store import ConversationStore, StoredMessage
    from ..types import ChatResponse
    from .layers import ResolvedRequest as ResolvedRequest

__all__ = ["ChatSession", "Turn"]

CONTINUE_PROMPT = "Continue exactly where your previous reply stopped, without repeating it."


class ChatSession:
    """A conversation with a model, persisted turn by turn when a store is given."""

    def __init__(
        self,
        client: Client,
        store: ConversationStore | None = None,
        *,
        record: StoredConversation | None = None,
        system: str | None = None,
        model: str | None = None,
        params: ChatParams | None = None,
        preflight: Preflight | None = None,
        request: ResolvedRequest | None = None,
        tools: Sequence[Any] | None = None,
        approve: Approve | None = None,
        chain_limit: int | None = None,
        on_tool: Callable[[ToolResult], None] | None = None,
    ) -> None:
        """`request` (see `talkline.layers.resolve_request`) sets the model, system prompt
        and parameters exactly, and stores them with `record` when they changed; without
        it, `model` and `system` fall back to what `record` stored, and `params` go over
        what `record` stored over the settings' (the request that is sent, as it is).

        `tools` (with `approve`, `chain_limit`, `on_tool`: see `Client.complete`) are run
        by the tool loop of every turn; the calls and results it adds are stored as
        messages of the conversation, so they are sent back on the next turn."""
        self.client = client
        self.tool_options = ToolOptions.of(tools, approve, chain_limit or DEFAULT_CHAIN_LIMIT,
                                           on_tool)
        self.store = store
        self.record = record
        if preflight is None:
            from ..planning.preflight import Preflight as Preflight

            preflight = Preflight(client.settings, store=store)
        self.preflight = preflight
        self.system = system if system is not None else (record.system if record else None)
        self.model = model or (record.model if record and record.model else None) or (
            client.settings.model
        )
        if request is None:  # the same layers as the CLI's: given > stored > settings
            from .layers import Given as Given
            from .layers import resolve_request as resolve_request

            given = Given(model=self.model, params=params or ChatParams())
            self.params = resolve_request(given, record, client.settings).params
        self._memory: list[Message] = []  # used without a store
        if request is not None:
            self.model, self.system, self.params = request.model, request.system, request.params
            if record is not None and (record.model, record.system or None, record.params) != (
                self.model, self.system, self.params.to_dict()
            ):
                self._save_settings()

    # -- state

    @property
    def id(self) -> str | None:
        return self.record.id if self.record else None

    def stored_messages(self) -> list[StoredMessage]:
        if self.store is None or self.record is None:
            return []
        return self.store.messages(self.record.id)

    def history(self) -> list[Message]:
        """What is sent: the active branch, without replies that did not complete."""
        return [m for m, _ in self._history_with_ids()]

    def _history_with_ids(self) -> list[tuple[Message, int | None]]:
        if self.store is None:
            return answered_calls_only([(m, None) for m in self._memory])
        store = self.store
        return answered_calls_only([
            (store.expand(m), m.id) for m in self.stored_messages()
            if not (m.role == "assistant" and m.status != "complete")
        ])

    def request_messages(self, extra: list[Message] | None = None) -> list[Message]:
        messages: list[Message] = []
        if self.system:
            messages.append(Message("system", self.system))
        messages.extend(self.history())
        messages.extend(extra or [])
        return messages

    # -- settings

    def set_model(self, model: str) -> None:
        self.model = model
        self._save_settings()

    def set_system(self, system: str | None) -> None:
        self.system = system or None
        self._save_settings()

    def set_param(self, name: str, value: Any) -> None:
        """`/set temperature 0.3`: validated like a command-line flag."""
        merged = self.params.to_dict()
        if value is None or value == "":
            merged.pop(name, None)
            if name not in ChatParams.field_names():
                raise ConfigError(f"unknown request parameter {name!r}")
        else:
            merged[name] = value
        self.params = params_from_mapping(merged)
        self._save_settings()

    def _save_settings(self) -> None:
        if self.store is not None and self.record is not None:
            self.record = self.store.update_conversation(
                self.record.id, model=self.model, system=self.system,
                params=self.params.to_dict(),
            )

    def _ensure_record(self, first_text: str) -> None:
        if self.store is None or self.record is not None:
            return
        self.record = self.store.create_conversation(
            model=self.model, system=self.system, params=self.params.to_dict()
        )

    # -- turns

    def send(self, text: str, *, stream: bool = True, resume: bool = True,
             attachments: Sequence[Attachment] = (), **params: Any) -> Turn:
        """Store the user's message, then ask for the reply (streamed unless `stream` is
        false: the turn then yields each choice's whole text once it arrived).
        `attachments` follow the text as content parts; their bytes are stored once."""
        content: str | list[dict[str, Any]] = text
        stored: str | list[dict[str, Any]] = text
        blobs = []
        if attachments:  # the prompt first: the instruction, then what it is about
            from ..planning.inputs import check_inputs

            first = [{"type": "text", "text": text}] if text else []
            content = first + [a.wire_part() for a in attachments]
            check_inputs([Message("user", content)], self.model, self.preflight.catalog)
            pairs = [a.stored_part() for a in attachments]
            stored = first + [p for p, _ in pairs]
            blobs = [b for _, b in pairs if b is not None]
        self._ensure_record(text)
        if self.store is not None and self.record is not None:
            self.store.append_message(self.record.id, "user", stored, blobs=blobs)
        else:
            self._memory.append(Message("user", content))
        return self._reply(self.request_messages(), params, stream=stream, resume=resume)

    def retry(self, **params: Any) -> Turn:
        """Regenerate the last reply as a new branch (the old one stays in the store)."""
        if self.store is None or self.record is None:
            if self._memory and self._memory[-1].role == "assistant":
                self._memory.pop()
            return self._reply(self.request_messages(), params)
        path = self.stored_messages()
        while path and path[-1].role != "user":
            path.pop()
        if not path:
            raise ConfigError("Nothing to retry yet: send a message first.")
        self.store.set_head(self.record.id, path[-1].id)
        return self._reply(self.request_messages(), params)

    def continue_reply(self, **params: Any) -> Turn:
        """Ask the model to go on from the last reply (cut off, or interrupted).

        The continued reply takes the partial one's place: what is sent next, and the
        active branch, hold one reply with the joined text. The partial one stays in the
        store on a branch of its own, and is put back if the continuation fails.
        """
        extra = [Message("user", CONTINUE_PROMPT)]
        if self.store is None or self.record is None:
            if not self._memory or self._memory[-1].role != "assistant":
                raise ConfigError("Nothing to continue: the last message is not a reply.")
            partial = self._memory.pop()
            try:
                turn = self._reply(self.request_messages([partial, *extra]), params)
            except BaseException:
                self._memory.append(partial)
                raise
            turn.prefix, turn.continues = partial.text, partial
            return turn
        path = self.stored_messages()
        last = path[-1] if path else None
        if last is None or last.role != "assistant":
            raise ConfigError("Nothing to continue: the last message is not a reply.")
        self.store.set_head(self.record.id, last.parent_id)  # the reply goes in its place
        try:
            turn = self._reply(
                self.request_messages([Message("assistant", last.content or ""), *extra]),
                params,
            )
        except BaseException:
            self.store.set_head(self.record.id, last.id)
            raise
        turn.prefix, turn.continues = last.content or "", last.to_message()
        turn.replaces = last.id
        return turn

    def undo(self) -> int:
        """Drop the last exchange from what is sent (it stays in the store). Returns how
        many messages left the active branch."""
        if self.store is None or self.record is None:
            n = 0
            while self._memory and self._memory[-1].role != "user":
                self._memory.pop()
                n += 1
            if self._memory:
                self._memory.pop()
                n += 1
            return n
        path = self.stored_messages()
        n = 0
        while path and path[-1].role != "user":
            path.pop()
            n += 1
        if path:
            path.pop()
            n += 1
        self.store.set_head(self.record.id, path[-1].id if path else None)
        return n

    def _reply(self, messages: list[Message], params: Mapping[str, Any], *,
               stream: bool = True, resume: bool = True) -> Turn:
        merged = self.params.merge(**{k: v for k, v in params.items() if v is not None})
        reply_id = None
        if self.store is not None and self.record is not None:
            pending = self.store.append_message(
                self.record.id, "assistant", "", status="pending",
                requested_model=self.model, params=merged.to_dict(),
            )
            reply_id = pending.id
        try:
            prepared = self._prepare(messages, merged)
        except TalklineError as exc:  # too long, or over budget: nothing is sent
            if self.store is not None and reply_id is not None:
                self.store.update_message(reply_id, status="error", error=str(exc))
            raise
        turn = Turn(self, self._open(prepared, stream, resume), reply_id)
        turn.prepared = prepared
        turn.notices = list(prepared.notices)
        return turn

    def _open(self, prepared: Prepared, stream: bool, resume: bool) -> ChatStream | Completion:
        params = prepared.params.merge(model=self.model)  # the whole request, sent as it is
        options = self.tool_options
        tools: dict[str, Any] = {} if options is None else {
            "tools": options.tools, "approve": options.approve,
            "chain_limit": options.chain_limit, "on_tool": options.on_tool,
            "before_round": self.preflight.round_check(self.model, params)}
        if stream:
            return self.client.stream(prepared.messages, params=params, resume=resume,
                                      schema=self._schema(params), **tools)
        return Completion(self.client, prepared.messages, params, self._schema(params), tools)

    def _schema(self, params: ChatParams) -> Structured | None:
        """The schema of a `json_schema` response_format (given now, or stored with the
        conversation), its length retry capped by the model's output limit."""
        from ..schema import Structured as Structured

        spec = Structured.from_response_format(params.response_format)
        window = self.preflight.window(self.model) if spec is not None else None
        return spec.with_max_output(window[1]) if spec is not None and window else spec

    def _prepare(self, messages: list[Message], params: ChatParams) -> Prepared:
        """Fit the window (summarising when so set) and check the budget."""
        summary = self._stored_summary()
        prepared = self.preflight.prepare(messages, self.model, params, summary=summary)
        fit = prepared.fit
        if fit is not None and fit.to_summarize and self.preflight.settings.context_strategy == (
            "summarize"
        ):
            summary = self._summarize(fit.to_summarize, fit.summary_covers)
            prepared = self.preflight.prepare(messages, self.model, params, summary=summary)
        return prepared

    def _stored_summary(self) -> Summary | None:
        if self.store is None or self.record is None:
            return None
        ids = [i for _, i in self._history_with_ids()]
        return stored_summary(self.store, self.record.id, ids)

    def _summarize(self, messages: list[Message], covers: int) -> Summary:
        """Ask the model for a summary of the turns that no longer fit, and keep it."""
        ids = [i for _, i in self._history_with_ids()]
        where = None if self.store is None or self.record is None else (
            self.store, self.record.id)
        return summarize(self.client, self.model, messages, covers, ids, where)

    def _after_refusal(self, turn: Turn, error: ContextLengthExceededError
                       ) -> tuple[ChatStream | Completion, Prepared]:
        assert turn.prepared is not None
        prepared = self.preflight.refit_after_refusal(turn.prepared, error, self.model)
        turn.notices.extend(prepared.notices)
        streamed = not isinstance(turn.stream, Completion)
        return self._open(prepared, streamed, True), prepared

    def _finish_reply(self, turn: Turn, *, error: str | None = None, partial: str = "",
                      rejected: ChatResponse | None = None) -> None:
        """Store how the turn ended. `rejected`: a reply received (and paid for) but refused,
        such as one that does not match its schema: stored with the error, not sent again."""
        resp = turn.response or rejected
        fit = turn.prepared.fit if turn.prepared is not None else None
        if resp is not None:
            self.preflight.observe(self.model, fit, resp.usage)
            # The embedded model answers under its GGUF file's name, which the catalog
            # does not know: price it under the name it was asked for (free).
            local = self.client.settings.is_local_model(self.model)
            turn.cost = self.preflight.cost(
                self.model if local else resp.model or self.model, resp.total_usage,
                completion_text=resp.content,
                prompt_estimate=fit.prompt_tokens if fit is not None else None,
            )
        if self.store is None or turn.reply_id is None:
            if resp is not None:
                self._memory.extend(resp.tool_messages)
                self._memory.append(resp.message if turn.continues is None else Message(
                    "assistant", turn.prefix + resp.content,
                    tool_calls=resp.message.tool_calls))
            elif turn.continues is not None:
                self._memory.append(turn.continues)
            return
        fields: dict[str, Any] = {"status": turn.status}
        if resp is not None:
            fields.update(response_fields(resp))
            fields["content"] = turn.prefix + fields["content"]
            if error is not None:
                fields["error"] = error
            if turn.cost is not None:
                fields["cost"], fields["cost_estimated"] = turn.cost.amount, turn.cost.estimated
        else:
            fields["content"] = turn.prefix + partial
            fields["error"], fields["reasoning"] = error, turn.reasoning or None
            fields["latency"] = time.monotonic() - turn.started
        turn.store_error = None  # what a checkpoint could not store, this may
        try:
            if resp is not None and resp.tool_messages and self.record is not None:
                turn.reply_id = store_tool_messages(self.store, self.record, turn.reply_id,
                                                    resp.tool_messages, self.model)
            self.store.update_message(turn.reply_id, **fields)
            if turn.replaces is not None and turn.status != "complete" and (
                self.record is not None
            ):
                self.store.set_head(self.record.id, turn.replaces)
        except TalklineError as exc:  # a full disk: the answer is still shown, this said
            turn.store_error = exc

    def _checkpoint(self, turn: Turn) -> None:
        """Store the text streamed so far in the pending reply (see `turn`)."""
        if self.store is None or turn.reply_id is None:
            return
        try:
            self.store.update_message(turn.reply_id, content=turn.prefix + turn.text,
                                      reasoning=turn.reasoning or None)
        except TalklineError as exc:
            turn.store_error = exc

