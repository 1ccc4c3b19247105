"""`talkline serve`'s gateway keys: rows of `gateway_keys`, the SHA-256 of each token only.

Tokens, their hashing and names' rules live in `talkline.serve.keys`; this module only
stores and reads what it is given.
"""

from __future__ import annotations

import hmac
import sqlite3
import time
from dataclasses import dataclass

from ._database import Database
from ._errors import StoreError
from ._ids import new_id

__all__ = ["GatewayKey", "GatewayKeysMixin"]

_COLUMNS = "id, name, daily_budget, monthly_budget, created"


@dataclass(frozen=True)
class GatewayKey:
    """A client's key to `talkline serve`: its name labels what it spends and stores."""

    id: str
    name: str
    daily_budget: float | None
    monthly_budget: float | None
    created: float


class GatewayKeysMixin:
    """Part of ConversationStore."""

    _db: Database

    def add_gateway_key(
        self, name: str, token_sha256: str, *, daily_budget: float | None = None,
        monthly_budget: float | None = None,
    ) -> GatewayKey:
        """Store a key under `name` (refused when the name is taken)."""
        now = time.time()
        key = GatewayKey(new_id(now), name, daily_budget, monthly_budget, now)

        def txn(conn: sqlite3.Connection) -> GatewayKey:
            if conn.execute("SELECT 1 FROM gateway_keys WHERE name = ?", (name,)).fetchone():
                raise StoreError(
                    f"A gateway key named {name!r} already exists.",
                    hint=f"Choose another name, or remove it first: "
                    f"talkline serve keys rm {name}",
                )
            conn.execute(
                f"INSERT INTO gateway_keys ({_COLUMNS}, token_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, name, daily_budget, monthly_budget, now, token_sha256),
            )
            return key

        return self._db.write(txn)

    def gateway_keys(self) -> list[GatewayKey]:
        """Every gateway key, oldest first."""
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM gateway_keys ORDER BY created, name"
            ).fetchall()
        )
        return [GatewayKey(*r) for r in rows]

    def gateway_key_by_hash(self, token_sha256: str) -> GatewayKey | None:
        """The key whose token has this SHA-256, compared in constant time with each."""
        rows = self._db.read(
            lambda c: c.execute(f"SELECT token_sha256, {_COLUMNS} FROM gateway_keys").fetchall()
        )
        found = None
        wanted = token_sha256.encode("ascii", "replace")
        for stored, *values in rows:
            if hmac.compare_digest(str(stored).encode("ascii", "replace"), wanted):
                found = GatewayKey(*values)
        return found

    def gateway_key(self, key_id: str) -> GatewayKey | None:
        """The key with this id, if it was not removed."""
        row = self._db.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM gateway_keys WHERE id = ?", (key_id,)
            ).fetchone()
        )
        return GatewayKey(*row) if row else None

    def remove_gateway_key(self, name: str) -> bool:
        """Remove the key `name`; its conversations stay, still labelled with the name."""
        return bool(
            self._db.write(
                lambda c: c.execute("DELETE FROM gateway_keys WHERE name = ?", (name,)).rowcount
            )
        )

    def set_gateway_budgets(self, name: str, *, daily_budget: float | None,
                            monthly_budget: float | None) -> GatewayKey | None:
        """Replace the key's budgets (None: no limit); None when there is no such key."""

        def txn(conn: sqlite3.Connection) -> GatewayKey | None:
            conn.execute(
                "UPDATE gateway_keys SET daily_budget = ?, monthly_budget = ? WHERE name = ?",
                (daily_budget, monthly_budget, name),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM gateway_keys WHERE name = ?", (name,)
            ).fetchone()
            return GatewayKey(*row) if row else None

        return self._db.write(txn)
