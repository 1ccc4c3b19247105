"""Templates and roles: TOML files of a system prompt, a prompt with `$input` and `$name`
variables, a model, request parameters, a schema, tools and a context strategy.

`load` finds one by name (the templates folder, then the built-in roles) or by path and
checks every field; `render` fills its variables; `save` writes the flags of a command
line as one; `listing` and `remove` serve `talkline templates`.
"""

from __future__ import annotations

from .load import (
    BUILTIN_DIR,
    MAX_TEMPLATE_BYTES,
    NAME_RULE,
    Template,
    check_name,
    is_path,
    load,
    parse,
)
from .render import render, variables
from .save import listing, remove, save

__all__ = ["BUILTIN_DIR", "MAX_TEMPLATE_BYTES", "NAME_RULE", "Template", "check_name",
           "is_path", "listing", "load", "parse", "remove", "render", "save", "variables"]
