"""`--functions FILE.py`: the public functions a file defines, as tools.

A function counts when the file itself defines it (not a name it imports) and its name
does not start with `_`. A file that cannot be read or imported is a usage error naming
the file and the line, with no traceback.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..session._tool_messages import ToolKeywords
    from ..tools import Tool
    from .output.terminal import Terminal
    from .output.tool_events import ToolEvents

__all__ = ["load_functions", "session_tools"]


def load_functions(paths: Sequence[str]) -> tuple[Tool, ...]:
    """The tools of every file, in order; two tools of one name are refused."""
    from ..errors import ParamError
    from ..tools import Tool, as_tools

    tools: list[Tool] = []
    for i, name in enumerate(paths):
        path = Path(name)
        if path.suffix != ".py" or not path.is_file():
            what = "is not a Python file" if path.is_file() else "does not exist"
            raise click.UsageError(f"--functions {name}: the file {what}. Give a .py file "
                                   "that defines the functions, e.g. --functions tools.py")
        module = _import(path, f"talkline_functions_{i}")
        found = [obj for attr, obj in vars(module).items()
                 if not attr.startswith("_") and inspect.isfunction(obj)
                 and obj.__module__ == module.__name__]
        if not found:
            raise click.UsageError(f"--functions {name}: the file defines no public function "
                                   "(names starting with _ and imported names are not tools)")
        for fn in found:
            try:
                tools.append(Tool.from_function(fn))
            except ParamError as exc:
                raise click.UsageError(f"--functions {name}: {exc.message}") from None
    try:
        return as_tools(tools)
    except ParamError as exc:
        raise click.UsageError(f"--functions: {exc.message}") from None


def _import(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise click.UsageError(f"--functions {path}: the file cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise click.UsageError(f"--functions {path}, line {exc.lineno}: syntax error: "
                               f"{exc.msg}. Fix the file and run again.") from None
    except (Exception, SystemExit) as exc:
        del sys.modules[module_name]
        line = _line_in(path, exc)
        where = f", line {line}" if line else ""
        raise click.UsageError(f"--functions {path}{where}: importing it raised "
                               f"{type(exc).__name__}: {exc}. Fix the file and run again."
                               ) from None
    return module


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The last line of `path` in the exception's traceback."""
    target = str(path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) == target:
            line = frame.lineno
    return line


def session_tools(term: Terminal, opts: Mapping[str, object]
                  ) -> tuple[ToolKeywords, ToolEvents | None]:
    """The `ChatSession` keywords of the tool flags (none without `--functions`), and the
    display that counts the calls."""
    from .output.tool_events import TerminalApproval, ToolEvents

    given = opts.get("functions")
    files = [f for f in given if isinstance(f, str)] if isinstance(given, (list, tuple)) else []
    others = [flag for flag, key in (("--tool-approve", "tool_approve"),
                                     ("--tools-debug", "tools_debug")) if opts.get(key)]
    if not files:
        if others:
            raise click.UsageError(f"{others[0]} needs --functions FILE.py, the file of the "
                                   "functions to run as tools.")
        return {}, None
    tools = load_functions(files)
    events = ToolEvents(term, debug=bool(opts.get("tools_debug")))
    kwargs: ToolKeywords = {"tools": tools, "on_tool": events}
    if opts.get("tool_approve"):
        kwargs["approve"] = TerminalApproval(term)
    limit = opts.get("chain_limit")
    if isinstance(limit, int):
        kwargs["chain_limit"] = limit
    return kwargs, events
