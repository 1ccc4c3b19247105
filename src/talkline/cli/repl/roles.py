"""The REPL's `/role` and `/template`: a role's system prompt for the following turns,
or a template's system prompt, model, parameters and schema (and its prompt around each
following message, until `/template off`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ConfigError

if TYPE_CHECKING:
    from ...session.conversation import ChatSession
    from ...settings import Settings
    from ...templates import Template
    from ..output.terminal import Terminal
    from ..template_use import TemplateUse

__all__ = ["Templates", "template_names"]


def template_names(settings: Settings) -> list[str]:
    """Every template and role by name (for tab completion); [] when the folder cannot
    be read."""
    from ...templates import listing

    try:
        return [entry.name for entry in listing(settings.paths.templates_dir)]
    except (ConfigError, OSError):
        return []


class Templates:
    """`/role`, `/template` and the template that wraps each message."""

    def __init__(self, term: Terminal, settings: Settings) -> None:
        self.term = term
        self.settings = settings
        self.wrap: TemplateUse | None = None  # its prompt holds each message

    def message(self, text: str) -> str:
        """The message as sent: put into the template's prompt while one is in use."""
        return text if self.wrap is None else self.wrap.render(text)[1]

    def cmd_role(self, session: ChatSession, arg: str) -> None:
        if not arg:
            self._list(roles_only=True)
            return
        template = self._load(arg)
        if template is None:
            return
        if not template.system:
            self.term.warn(f'"{arg}" has no system prompt, so it is not a role: use '
                           f"/template {arg}")
            return
        system = self._system(template)
        if system is not None:
            self._set_system(session, system)
            self.term.status(f'role "{arg}" for the following turns')

    def cmd_template(self, session: ChatSession, arg: str) -> None:
        from ..template_use import TemplateUse

        if not arg:
            self._list(roles_only=False)
            return
        if arg == "off":
            self.wrap = None
            self.term.status("template off: messages are sent as typed")
            return
        template = self._load(arg)
        if template is None:
            return
        system = self._system(template)
        if system is None:
            return
        if template.functions or template.context:
            self.term.warn(f'template "{arg}": its functions and context are used only '
                           "with --template on the command line")
        if template.system is not None:
            self._set_system(session, system)
        if template.model:
            session.set_model(template.model)
        self._set_params(session, template)
        from ...templates.render import wraps_input

        self.wrap = TemplateUse(template) if wraps_input(template) else None
        wrapped = " (each message goes into its prompt; /template off stops)" \
            if self.wrap is not None else ""
        self.term.status(f'template "{arg}" in use{wrapped}')
        if template.prompt is not None and self.wrap is None:
            self.term.warn(f'template "{arg}": its prompt has no $input, so it is not used '
                           "here (send it as a message, or add $input where yours goes)")

    # -- the parts

    def _load(self, name: str) -> Template | None:
        from ...templates import load

        try:
            return load(name, self.settings.paths.templates_dir)
        except ConfigError as exc:
            self.term.error(exc)
            return None

    def _system(self, template: Template) -> str | None:
        """Its system prompt with its variables filled from [defaults] (no --var here)."""
        from ...templates import render

        try:
            return render(template, {}, "x")[0] or ""
        except ConfigError as exc:
            self.term.warn(f"{exc.message.split(': add --var')[0]}: give it a value in the "
                           f"template's [defaults], or use --template {template.name} "
                           "--var ... on the command line")
            return None

    def _set_system(self, session: ChatSession, system: str) -> None:
        from ..app import replaced_notice

        old = session.system or ""
        session.set_system(system)
        if system != old and session.history():
            self.term.status(replaced_notice(old))

    def _set_params(self, session: ChatSession, template: Template) -> None:
        from ...planning.preflight import uses_max_completion_tokens

        values = template.params.to_dict()
        values.pop("model", None)
        if template.schema is not None:
            from ...schema import structured

            values["response_format"] = structured(
                template.schema, multi=template.schema_multi).response_format()
        if template.max_tokens is not None:
            cap = "max_completion_tokens" if uses_max_completion_tokens(session.model) \
                else "max_tokens"
            values[cap] = template.max_tokens
        for name, value in values.items():
            session.set_param(name, value)

    def _list(self, *, roles_only: bool) -> None:
        from ...templates import listing

        rows = [e for e in listing(self.settings.paths.templates_dir)
                if e.kind == "role" or not roles_only]
        for entry in rows:
            self.term.write_line(f"{entry.name:<16} {entry.kind:<9} {entry.first_line[:60]}")
        self.term.status("/role NAME switches the system prompt" if roles_only
                         else "/template NAME applies one; /template off stops wrapping")
