"""Conversation ids: 26-character ULIDs (48-bit millisecond time + 80 random bits).

They sort by creation time, need no coordination between processes, and look like
`01JC3W5Q8S2R4F7T9V0X1Y2Z3A`: 10 characters of time, then 16 random ones. Within one
process ids are strictly increasing.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["ID_ALPHABET", "ID_LENGTH", "new_id"]

ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
ID_LENGTH = 26
_RANDOM_BITS = 80

_lock = threading.Lock()
_last = 0


def new_id(now: float | None = None) -> str:
    """A new ULID for time `now` (seconds since the epoch; default: the clock).

    Never earlier than the last id this process minted: the ids of one process sort in
    the order they were made.
    """
    global _last
    ms = int((time.time() if now is None else now) * 1000)
    with _lock:
        # Same millisecond (or a clock that stepped back): run a millisecond ahead rather
        # than increment the random part, so that ids minted together still differ early
        # on and a short prefix of the random part tells them apart.
        ms = max(ms, _last + 1)
        _last = ms
    rand = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
    value = (ms << _RANDOM_BITS) | rand
    chars = []
    for _ in range(ID_LENGTH):
        chars.append(ID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
