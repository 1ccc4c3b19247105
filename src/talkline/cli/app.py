"""The application object every command shares, on click's context (`pass_app`).

It holds the one `Terminal` (the REPL, the one-shot command and `main`'s error lines all
write through it), the request flags parsed once, the settings resolved once from them,
and the steps a command that talks to a model goes through: announce what the user must
know, open the conversation, resolve the request, make the client with its progress lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..client import Client
    from ..session._tool_messages import ToolKeywords
    from ..session.conversation import ChatSession
    from ..session.layers import ResolvedRequest
    from ..settings import Settings
    from ..store import Conversation, ConversationStore
    from .flags import RequestFlags
    from .output.terminal import Terminal
    from .template_use import TemplateUse

__all__ = ["LOCAL_NOTICE", "App", "current_app", "pass_app", "replaced_notice",
           "system_replaced_notice"]

LOCAL_NOTICE = (
    "No API key configured: answering with the embedded SmolLM2-135M model. "
    "Set OPENAI_API_KEY or run `talkline keys set openai` to use OpenAI."
)


class App:
    """One command's shared state. Created empty; each part is made on first use."""

    def __init__(self) -> None:
        self._term: Terminal | None = None
        self._flags: RequestFlags | None = None
        self._settings: Settings | None = None
        self.template: TemplateUse | None = None  # --template, once the flags are parsed

    # -- the terminal

    @property
    def term(self) -> Terminal:
        if self._term is None:
            from .output.terminal import Terminal

            self._term = Terminal()
        return self._term

    def use_terminal(self, *, sanitize_pipe: bool = False, force_stream: bool = False,
                     plain: bool | None = None) -> Terminal:
        """The command's own output choices, set before it writes anything."""
        from .output.terminal import Terminal

        self._term = Terminal(sanitize_pipe=sanitize_pipe, force_stream=force_stream,
                              plain=plain)
        return self._term

    # -- flags and settings

    def use_flags(self, opts: Mapping[str, object]) -> RequestFlags:
        """Parse the request options once (a wrong value is a usage error right here);
        a --template goes under them."""
        from .flags import RequestFlags

        self._flags = RequestFlags.parse(opts)
        if opts.get("template") is not None or opts.get("variables"):
            from ..settings.paths import Paths
            from .template_use import apply_template

            self._flags, self.template = apply_template(self._flags, opts,
                                                        Paths.resolve().templates_dir)
        return self._flags

    def tool_opts(self, opts: Mapping[str, object]) -> Mapping[str, object]:
        """The tool flags, with the template's tool files when --functions is not given."""
        if self.template is None or not self.template.functions:
            return opts
        return {**opts, "functions": self.template.functions}

    @property
    def flags(self) -> RequestFlags:
        if self._flags is None:
            from ..session.layers import Given
            from .flags import RequestFlags

            self._flags = RequestFlags(given=Given())
        return self._flags

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.flags.settings()
        return self._settings

    def use_settings(self, settings: Settings) -> Settings:
        self._settings = settings
        return settings

    def announce(self) -> None:
        """What the user must know before anything is sent: no key for OpenAI (refused),
        a key in clear text, or the embedded model answering because no key is set."""
        from ..wire.keycheck import require_key

        settings = self.settings
        if not settings.is_local_model():
            require_key(settings.base_url, settings.api_key)
        if settings.using_default_local:
            self.term.status(LOCAL_NOTICE)

    # -- the conversation

    def open_conversation(self, *, continue_: bool, cid: str | None, no_log: bool
                          ) -> tuple[ConversationStore | None, Conversation | None]:
        """The store (None with --no-log or `log = false`) and the conversation to go on
        with (None for a new one)."""
        settings = self.settings
        if (continue_ or cid) and (no_log or not settings.log):
            raise click.UsageError(
                "--continue and --cid need the conversation store; drop --no-log.")
        if no_log or not settings.log:
            return None, None
        from ..store import ConversationStore

        store = ConversationStore.open(settings.paths)
        record = None
        try:
            if cid:
                record = store.get_conversation(cid)
            elif continue_:
                record = store.latest_conversation()
                if record is None:
                    raise click.UsageError("There is no conversation to continue yet.")
        except BaseException:
            store.close()
            raise
        return store, record

    def request(self, record: Conversation | None) -> ResolvedRequest:
        """Flags given now > what the conversation stored > settings."""
        from ..errors import ConfigError
        from ..session.layers import resolve_request

        try:
            return resolve_request(self.flags.given, record, self.settings)
        except ConfigError as exc:
            raise click.UsageError(exc.message) from None

    def client(self, settings: Settings | None = None) -> Client:
        """A Client whose retries and fallbacks are told on stderr."""
        from ..client import Client
        from .output.progress import Progress

        progress = Progress(self.term)
        return Client(settings=settings or self.settings, on_retry=progress.on_retry,
                      on_fallback=progress.on_fallback, on_warning=self.term.warn)

    @contextmanager
    def session(self, request: ResolvedRequest, store: ConversationStore | None,
                record: Conversation | None, tools: ToolKeywords | None = None
                ) -> Iterator[ChatSession]:
        """A ChatSession on a new client; the client and the store are closed after.
        `tools`: its tool keywords (`cli.functions.session_tools`)."""
        from ..session.conversation import ChatSession

        client = self.client()
        try:
            yield ChatSession(client, store, record=record, request=request, **(tools or {}))
        finally:
            client.close()
            if store is not None:
                store.close()


def system_replaced_notice(request: ResolvedRequest) -> str | None:
    """The stderr line for a continued conversation given a new system prompt."""
    if request.replaced_system is None:
        return None
    return replaced_notice(request.replaced_system)


def replaced_notice(replaced: str) -> str:
    """`system prompt replaced ... (was: "...")`, for `-s` on `-c` and the REPL's /role."""
    old = " ".join(replaced.split())
    was = f'"{old[:60]}…"' if len(old) > 60 else f'"{old}"' if old else "none"
    return f"system prompt replaced for this conversation from this turn on (was: {was})"


pass_app = click.make_pass_decorator(App, ensure=True)


def current_app() -> App:
    """The App on the current click context (made there if the command runs alone)."""
    return click.get_current_context().ensure_object(App)
