"""One SQLite connection: opening it privately, the busy retry loop, error mapping.

This is the boundary where sqlite3 exceptions become `StoreError`s; nothing above it
sees a sqlite3 exception.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ._errors import StoreError
from ._schema import migrate

__all__ = ["Database"]

T = TypeVar("T")

_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (any extended code)
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code & 0xFF if isinstance(code, int) else None


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """A connection with WAL, a busy timeout, foreign keys, and files only the user reads.

    Every use goes through `read` or `write`, which run a function inside one transaction
    and retry it while SQLite reports the database busy: the busy timeout alone does not
    cover every WAL case (a snapshot that went stale, recovery after a crash).
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.memory = str(path) in ("", ":memory:")
        self.path = Path(path).expanduser() if not self.memory else None
        self.label = str(path) if self.memory else str(Path(path).expanduser())
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # Under umask 077 SQLite creates the database, -wal and -shm files as 0600 (it gives
        # -wal/-shm the database file's mode anyway; the umask covers the first creation).
        old_umask = os.umask(0o077) if not self.memory else None
        try:
            self._conn = self._connect()
            migrate(self.read, self.write)
        except BaseException:
            self.close()
            raise
        finally:
            if old_umask is not None:
                os.umask(old_umask)
        self._make_private()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"The conversation database {self.label} is closed.")
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.label,
                timeout=self.busy_timeout,
                isolation_level=None,  # we issue BEGIN and COMMIT ourselves
                check_same_thread=False,  # a store may be shared by threads; _lock guards it
            )
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        self._conn = conn

        def setup(c: sqlite3.Connection) -> None:
            c.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            c.execute("PRAGMA foreign_keys = ON")
            # Up to 32 MiB of pages, taken only as they are read: a long conversation's
            # messages lie on as many pages as it has messages (conversations interleave).
            c.execute("PRAGMA cache_size = -32768")
            if not self.memory:
                c.execute("PRAGMA journal_mode = WAL")
                c.execute("PRAGMA synchronous = NORMAL")

        self.run(setup, begin=None)
        return conn

    def _make_private(self) -> None:
        if self.memory:
            return
        for suffix in ("", "-wal", "-shm"):
            try:
                os.chmod(self.label + suffix, 0o600)
            except OSError:
                pass  # absent (-wal/-shm come and go) or not ours: nothing to tighten

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
                self._conn = None

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one read transaction (a consistent snapshot)."""
        return self.run(fn, begin="BEGIN")

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction and commit before returning.

        BEGIN IMMEDIATE takes the write lock up front, so the transaction never has to
        upgrade a read snapshot (which fails at once, whatever the busy timeout).
        """
        return self.run(fn, begin="BEGIN IMMEDIATE")

    def run(self, fn: Callable[[sqlite3.Connection], T], *, begin: str | None) -> T:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        with self._lock:
            conn = self.conn
            while True:
                try:
                    return self._attempt(conn, fn, begin)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() >= deadline:
                        raise self.error(exc) from None
                except sqlite3.Error as exc:
                    raise self.error(exc) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)

    @staticmethod
    def _attempt(
        conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], begin: str | None
    ) -> T:
        if begin is None:
            return fn(conn)
        conn.execute(begin)
        try:
            result = fn(conn)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def error(self, exc: sqlite3.Error) -> StoreError:
        """The StoreError that says what went wrong with this file and what to do."""
        text = str(exc)
        low = text.lower()
        code = _primary_code(exc)
        where = self.label
        if code in _CORRUPT_CODES or "not a database" in low or "malformed" in low:
            return StoreError(
                f"The conversation database {where} is damaged or is not a SQLite database "
                f"({text}).",
                hint=f"Move it aside (for example `mv {where} {where}.broken`); talkline then "
                "starts a new, empty one. The old file may be rescued with `sqlite3 "
                f"{where}.broken .recover`.",
            )
        if _is_busy(exc):
            return StoreError(
                f"The conversation database {where} stayed busy for {self.busy_timeout:g} s: "
                "another process kept it locked.",
                hint="Try again; if it keeps happening, look for a stuck talkline process.",
            )
        if "unable to open" in low or code == 14:
            return StoreError(
                f"Cannot open the conversation database {where} ({text}).",
                hint="Check that its folder exists and that you may write to it "
                "(TALKLINE_HOME moves it).",
            )
        if "readonly" in low or "read-only" in low or code == 8:
            return StoreError(
                f"The conversation database {where} is read-only ({text}).",
                hint="Check the permissions of the file and of its folder.",
            )
        if "disk is full" in low or code == 13:
            return StoreError(
                f"The disk holding {where} is full.", hint="Free some space and try again."
            )
        return StoreError(f"Conversation database error in {where}: {text}")
