"""Attachments: files, image URLs and stdin sent with a message as content parts.

```python
from talkline.attachments import load_attachment
cat = load_attachment("cat.png")          # Attachment(name="cat.png", mime="image/png", ...)
cat.wire_part()                           # {"type": "image_url", "image_url": {"url": "data:..."}}
```
The type comes from the bytes, not the name (`sniff`); an image's size from its header
(`images`); the stored form keeps bytes once under their SHA-256 (`parts`). Reads only
the local file it is given (a URL is never fetched); no network, no store.
"""

from __future__ import annotations

from .images import image_size
from .load import LIMITS, SUPPORTED, TOTAL_LIMIT, AttachmentError, check_total, load_attachment
from .parts import (
    Attachment,
    Blob,
    describe,
    expand_part,
    format_size,
    format_sizes,
    is_stored,
    kinds_of,
    sha256_of,
    to_stored,
    wire_kind,
)
from .sniff import KINDS, Detected, detect, is_text

__all__ = [
    "KINDS",
    "LIMITS",
    "SUPPORTED",
    "TOTAL_LIMIT",
    "Attachment",
    "AttachmentError",
    "Blob",
    "Detected",
    "check_total",
    "describe",
    "detect",
    "expand_part",
    "format_size",
    "format_sizes",
    "image_size",
    "is_stored",
    "is_text",
    "kinds_of",
    "load_attachment",
    "sha256_of",
    "to_stored",
    "wire_kind",
]
