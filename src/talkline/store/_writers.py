"""Who is writing a pending reply, and replies left pending by a process that is gone.

A reply is stored `pending` before its request is sent and checkpointed while it streams.
Its row also holds the writer's process id and start time, so that a later start can tell
a reply whose process was killed (SIGKILL, a crash, a reboot) from one another process
(a long-running gateway, another CLI) is still writing: the writer is alive when a
process with that id exists and started at that time (an id the system gave to a new
process does not count). Only rows whose writer is gone are marked `interrupted`, with
the text they hold kept.

The start time is read from `/proc` (Linux); elsewhere it is None and a process with the
id is taken to be the writer.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

__all__ = ["ABANDONED_ERROR", "abandoned_rows", "mark_abandoned", "process_start",
           "this_writer", "writer_alive"]

ABANDONED_ERROR = "the talkline process writing this reply stopped before it ended (pid {pid})"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def process_start(pid: int) -> float | None:
    """When process `pid` started, in clock ticks since boot; None when unknown."""
    fields = _stat(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        return float(fields[19])
    except ValueError:
        return None


def this_writer() -> tuple[int, float | None]:
    pid = os.getpid()
    return pid, process_start(pid)


def writer_alive(pid: int, started: float | None) -> bool:
    """Whether the process that wrote a row (id `pid`, started at `started`) still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    except OSError:
        return True  # cannot tell: leave the row alone
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc: a process with this id exists
    if fields and fields[0] in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return started is None or process_start(pid) == started


def abandoned_rows(conn: sqlite3.Connection,
                   alive: Callable[[int, float | None], bool] = writer_alive
                   ) -> list[tuple[int, int]]:
    """(message id, writer pid) of the pending replies whose writer is gone."""
    rows = conn.execute(
        "SELECT id, writer_pid, writer_started FROM messages "
        "WHERE status = 'pending' AND writer_pid IS NOT NULL"
    ).fetchall()
    return [(int(mid), int(pid)) for mid, pid, started in rows if not alive(pid, started)]


def mark_abandoned(conn: sqlite3.Connection, rows: list[tuple[int, int]]) -> int:
    """Mark `rows` interrupted, each only if it is still pending under the same writer."""
    marked = 0
    for mid, pid in rows:
        marked += conn.execute(
            "UPDATE messages SET status = 'interrupted', error = ? "
            "WHERE id = ? AND status = 'pending' AND writer_pid = ?",
            (ABANDONED_ERROR.format(pid=pid), mid, pid),
        ).rowcount
    return marked
