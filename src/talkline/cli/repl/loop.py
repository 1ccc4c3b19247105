"""The REPL loop: input (prompt_toolkit on a terminal, plain lines from a pipe), slash
commands, and streaming each turn through the Terminal."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import StreamInterrupted, TalklineError
from ...settings.private import open_private
from ..output.answer import show_answer
from .attach import Pending
from .gauge import window_gauge
from .reader import _CTRL_C, Line, LineReader, _CtrlC
from .roles import Templates, template_names
from .typeahead import TypeAhead
from .words import COMMANDS, EXIT_WORDS, HELP, env_editor, several_choices_refusal

if TYPE_CHECKING:
    from ...attachments import Attachment
    from ...session._tool_messages import ToolKeywords
    from ...session.conversation import ChatSession
    from ...session.turn import Turn
    from ...settings import Settings
    from ..output.terminal import Terminal


class Repl:
    def __init__(self, session: ChatSession, term: Terminal, settings: Settings,
                 attachments: list[Attachment] | None = None) -> None:
        self.session = session
        self.pending = Pending(attachments)
        self.term = term
        self.settings = settings
        history = str(settings.paths.input_history) if settings.log else None
        if history:
            settings.paths.ensure_private_dir(settings.paths.data_dir)
        self.templates = Templates(term, settings)
        self.reader = LineReader(history, template_names(settings))
        self.typeahead = TypeAhead(enabled=self.reader.tty)
        self.gauge: str | None = None  # see `gauge.window_gauge`; refreshed when it changes
        self.last_reply = ""
        self._handlers: dict[str, Callable[[str], None]] = {
            "/help": lambda _: self.term.write_line(HELP),
            "/system": self.cmd_system,
            "/model": self.cmd_model,
            "/set": self.cmd_set,
            "/params": self.cmd_params,
            "/schema": self.cmd_schema,
            "/new": self.cmd_new,
            "/history": self.cmd_history,
            "/retry": lambda _: self.run_turn(self.session.retry),
            "/continue": lambda _: self.run_turn(self.session.continue_reply),
            "/undo": self.cmd_undo,
            "/edit": self.cmd_edit,
            "/save": self.cmd_save,
            "/usage": self.cmd_usage,
            "/copy": self.cmd_copy,
            "/export": self.cmd_export,
            "/attach": self.cmd_attach,
            "/tools": self.cmd_tools,
            "/role": lambda arg: self.templates.cmd_role(self.session, arg),
            "/template": lambda arg: self.templates.cmd_template(self.session, arg),
        }

    # -- the loop

    def run(self) -> None:
        self.greet()
        ctrl_c = False
        while True:
            try:
                text = self.read_message()
            except KeyboardInterrupt:  # Ctrl-C between two prompts
                text = _CTRL_C
            if isinstance(text, _CtrlC):
                if ctrl_c:
                    break
                ctrl_c = True
                self.term.status("(Press Ctrl-C again, or Ctrl-D, to leave.)")
                continue
            ctrl_c = False
            if text is None:
                break
            assert isinstance(text, str)
            stripped = text.strip()
            if not stripped:
                continue
            if stripped.lower() in EXIT_WORDS:
                break
            if stripped.startswith("/"):
                self.command(stripped)
                continue
            self.run_turn(functools.partial(self.send, text))

    def send(self, text: str) -> Turn:
        """`session.send` with the waiting attachments, dropped once stored."""
        from ...attachments import AttachmentError

        try:
            turn = self.session.send(self.templates.message(text),
                                     attachments=self.pending.take())
        except AttachmentError:
            raise  # refused before anything was stored: they wait for the next try
        except BaseException:
            self.pending.sent()
            raise
        self.pending.sent()
        return turn

    def cmd_attach(self, arg: str) -> None:
        for line in self.pending.command(arg):
            self.term.status(line)

    def greet(self) -> None:
        messages = self.session.stored_messages()
        if messages:
            self.term.status(f"Resuming {self.session.id} ({len(messages)} messages). "
                             "Last turns:")
            for m in messages[-4:]:
                text = " ".join((m.content or "").split())
                more = "..." if len(text) > 100 else ""
                self.term.status(f"  {m.role}: {text[:100]}{more}")
            self.refresh_gauge()
        elif self.reader.tty:
            self.term.status(f"Chatting with {self.session.model}. /help for commands, "
                             "quit or Ctrl-D to leave.")

    def prompt_text(self) -> str:
        """`4.1k/128k> `: how much of the model's window the conversation takes."""
        return f"{self.gauge}> " if self.gauge else "> "

    def refresh_gauge(self, turn: Turn | None = None) -> None:
        self.gauge = window_gauge(self.session, turn)

    def read_message(self) -> Line:
        text = self.reader.read(self.prompt_text(), default=self.typeahead.take())
        if not isinstance(text, str) or text.strip() != '"""':
            return text
        lines: list[str] = []
        while True:
            line = self.reader.read(continuation=True)
            if line is None or isinstance(line, _CtrlC):
                return line
            if line.strip() == '"""':
                return "\n".join(lines)
            lines.append(line)

    def run_turn(self, start: Callable[[], Turn]) -> None:
        """One reply, streamed. Keys typed meanwhile wait for the next prompt."""
        turn = None
        try:
            with self.typeahead.capture():
                turn = self._stream_turn(start)
        finally:
            self.refresh_gauge(turn)

    def _stream_turn(self, start: Callable[[], Turn]) -> Turn | None:
        term = self.term
        turn = None
        try:
            turn = start()
            show_answer(term, turn, live=True, cut_off_hint="/continue asks for more.",
                        end_on_error=True, hide_reasoning=self.settings.hide_reasoning)
            self.last_reply = turn.prefix + turn.text
        except KeyboardInterrupt:
            if turn is None:  # before the reply began (shown marked by `show_answer`)
                term.interrupt_answer()
        except StreamInterrupted as exc:
            term.error(exc)
            term.status("The partial reply is kept. /retry to ask again, /continue to go on.")
        except TalklineError as exc:
            if turn is None:
                term.end_answer()
            term.error(exc)
            if exc.exit_code == 1:
                term.status("/retry to try again.")
        unstored = turn.not_stored_notice() if turn is not None else None
        if unstored:  # a full disk: the answer was shown, and is not kept
            term.warn(unstored)
        return turn

    # -- commands

    def command(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        handler = self._handlers.get(name.lower())
        if handler is None:
            close = [c for c in COMMANDS if c.startswith(name.lower()[:3])]
            hint = f" Did you mean {close[0]}?" if close else ""
            self.term.warn(f"Unknown command {name}.{hint} /help lists them.")
            return
        try:
            handler(arg.strip())
        except TalklineError as exc:
            self.term.error(exc)

    def cmd_system(self, arg: str) -> None:
        if arg:
            self.session.set_system(arg)
            self.refresh_gauge()
            self.term.status("System prompt set.")
        else:
            self.term.write_line(self.session.system or "(no system prompt)")

    def cmd_model(self, arg: str) -> None:
        if arg:
            self.session.set_model(arg)
            self.refresh_gauge()
            self.term.status(f"Model: {arg}")
        else:
            self.term.write_line(self.session.model)

    def cmd_set(self, arg: str) -> None:
        name, _, value = arg.partition(" ")
        if not name:
            self.term.warn("Usage: /set NAME VALUE, e.g. /set temperature 0.3")
            return
        if name == "n" and value.strip().isdigit() and int(value) > 1:
            self.term.warn(several_choices_refusal(f"/set n {value.strip()}"))
            return
        self.session.set_param(name, value.strip() or None)
        self.cmd_params("")

    def cmd_schema(self, arg: str) -> None:
        """`/schema SCHEMA` asks for JSON of that shape from now on; `/schema` alone stops."""
        from ...errors import SchemaError
        from ...schema import structured

        if not arg.strip():
            self.session.set_param("response_format", None)
            self.term.status("schema cleared: answers are text again")
            return
        try:
            spec = structured(arg.strip())
        except SchemaError as exc:
            self.term.warn(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message)
            return
        self.session.set_param("response_format", spec.response_format())
        fields = ", ".join(spec.schema.get("properties") or ())
        self.term.status(f"schema set: answers are JSON with {fields} (/schema alone clears it)")
        if not spec.strict:
            self.term.warn(f"schema: cannot be strict: {spec.reason}. Sent non-strict; the "
                           "reply is checked.")

    def cmd_params(self, _: str) -> None:
        params = self.session.params.to_dict()
        params.pop("model", None)
        self.term.write_line(f"model: {self.session.model}")
        for key, value in sorted(params.items()):
            self.term.write_line(f"{key}: {value}")

    def cmd_new(self, _: str) -> None:
        from ...session.conversation import ChatSession as ChatSession

        s = self.session
        options = s.tool_options
        tools: ToolKeywords = {} if options is None else {
            "tools": options.tools, "approve": options.approve,
            "chain_limit": options.chain_limit, "on_tool": options.on_tool}
        self.session = ChatSession(s.client, s.store, system=s.system, model=s.model,
                                   params=s.params, **tools)
        self.refresh_gauge()
        self.term.status("New conversation.")

    def cmd_tools(self, _: str) -> None:
        options = self.session.tool_options
        if options is None:
            self.term.status("No tools loaded: start the chat with --functions FILE.py.")
            return
        for tool in options.tools:
            self.term.write_line(f"{tool.name}: {tool.summary}" if tool.summary else tool.name)

    def cmd_history(self, _: str) -> None:
        from ...store.export import thinking_quote

        messages = [(m.role, m.status, "\n".join([*thinking_quote(m.reasoning), m.content or ""]))
                    for m in self.session.stored_messages()
                    ] or [(m.role, "complete", m.text) for m in self.session.history()]
        if not messages:
            self.term.status("No turns yet.")
        for i, (role, status, content) in enumerate(messages):
            shown = "" if status == "complete" else f" [{status}]"
            if i:
                self.term.write_line()
            self.term.write_heading(f"{role}{shown}:")
            self.term.write_markdown(content)

    def cmd_undo(self, _: str) -> None:
        n = self.session.undo()
        self.refresh_gauge()
        self.term.status(f"Dropped the last exchange ({n} messages) from what is sent."
                         if n else "Nothing to undo.")

    def cmd_edit(self, _: str) -> None:
        fd, path = tempfile.mkstemp(suffix=".md", prefix="talkline-")
        os.close(fd)
        try:
            subprocess.run([*env_editor().split(), path], check=False)
            with open(path, encoding="utf-8") as fh:
                text = fh.read().strip()
        finally:
            os.unlink(path)
        if text:
            self.run_turn(lambda: self.session.send(text))
        else:
            self.term.status("Empty message: nothing sent.")

    def cmd_save(self, arg: str) -> None:
        if not arg:
            self.term.warn("Usage: /save TITLE")
        elif self.session.store is None or self.session.id is None:
            self.term.warn("Nothing stored yet: send a message first.")
        else:
            self.session.store.set_title(self.session.id, arg)
            self.term.status(f"Saved as {arg!r}.")

    def cmd_usage(self, _: str) -> None:
        store, cid = self.session.store, self.session.id
        if store is None or cid is None:
            self.term.status("No usage yet.")
            return
        conv = store.get_conversation(cid)
        cost = f", ${conv.cost:.4f}" if conv.cost else ""
        if self.settings.is_local_model(self.session.model) and not conv.cost:
            cost = ", free (embedded model)"
        self.term.write_line(f"{conv.turns} turns: {conv.prompt_tokens} prompt + "
                             f"{conv.completion_tokens} completion tokens{cost}")

    def cmd_copy(self, _: str) -> None:
        from .clipboard import copy_text as copy_text

        if not self.last_reply:
            self.term.status("No reply to copy yet.")
            return
        copied, message = copy_text(self.last_reply, self.term.write_control)
        (self.term.status if copied else self.term.warn)(message)

    def cmd_export(self, arg: str) -> None:
        from ...store.export import export_text, format_for_path

        store, cid = self.session.store, self.session.id
        if not arg:
            self.term.warn("Usage: /export FILE (.md or .json)")
            return
        if store is None or cid is None:
            self.term.warn("Nothing stored yet: send a message first.")
            return
        text = export_text(store, cid, format_for_path(arg))
        with open_private(os.path.expanduser(arg), "w", encoding="utf-8") as fh:
            fh.write(text)
        self.term.status(f"Wrote {arg}")
