"""Conversations, messages and usage in SQLite: `ConversationStore` and what it returns.

```python
from talkline.store import ConversationStore
with ConversationStore.open(settings.paths) as store:
    conv = store.create_conversation(model="gpt-4o-mini")
    store.append_message(conv.id, "user", "Hello")
```
"""

from __future__ import annotations

from ._errors import ConversationNotFound, MessageNotFound, StoreError
from ._gateway_keys import GatewayKey
from ._ids import new_id
from ._models import (
    MAX_TITLE,
    STATUSES,
    Conversation,
    SearchHit,
    StoredMessage,
    Summary,
    UsageRow,
    title_from_text,
)
from ._schema import MIGRATIONS
from ._search import fts_query
from ._store import ConversationStore

__all__ = [
    "MAX_TITLE",
    "MIGRATIONS",
    "STATUSES",
    "Conversation",
    "ConversationNotFound",
    "ConversationStore",
    "GatewayKey",
    "MessageNotFound",
    "SearchHit",
    "StoreError",
    "StoredMessage",
    "Summary",
    "UsageRow",
    "fts_query",
    "new_id",
    "title_from_text",
]
