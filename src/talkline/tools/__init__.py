"""Tools the model may call, run by talkline: `Tool` (from a Python function's type hints
and docstring, or a tool dict), the JSON schema of type hints, and `ToolRunner` (one
reply's calls run in order; every problem becomes the text the model gets back).

The loop that sends the results back and asks again is the client's
(`talkline.client._tools`)."""

from __future__ import annotations

from .run import MAX_RESULT_BYTES, Approve, ToolResult, ToolRunner, result_text
from .schema import parameters_schema, type_schema
from .tool import Tool, as_tools

__all__ = ["MAX_RESULT_BYTES", "Approve", "Tool", "ToolResult", "ToolRunner", "as_tools",
           "parameters_schema", "result_text", "type_schema"]
