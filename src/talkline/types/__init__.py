"""Value types: messages, request parameters, responses and stream deltas.

All are small frozen dataclasses. Parsing is liberal (unknown fields are kept in `extra`,
missing optional fields become None); building requests is strict (`ChatParams` validates
every field against the range the API accepts).

- `messages`: `Message`, `ToolCall`, `ROLES`, `as_messages`
- `params`: `ChatParams` and its validation, `params_from_mapping`
- `responses`: `ChatResponse`, `Choice`, `Usage`, `ChatDelta`, `ToolCallDelta`
- `completions`: `CompletionOptions`, `TextCompletion`, `TextChoice`, `TextDelta`
"""

from __future__ import annotations

from .completions import CompletionOptions, TextChoice, TextCompletion, TextDelta
from .messages import ROLES, Message, Role, ToolCall, as_messages
from .params import ChatParams, params_from_mapping
from .responses import ChatDelta, ChatResponse, Choice, ToolCallDelta, Usage

__all__ = [
    "ROLES",
    "ChatDelta",
    "ChatParams",
    "ChatResponse",
    "Choice",
    "CompletionOptions",
    "Message",
    "Role",
    "TextChoice",
    "TextCompletion",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "as_messages",
    "params_from_mapping",
]
