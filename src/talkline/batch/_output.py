"""The results file: append-only JSONL that survives Ctrl-C and SIGKILL, and resumes.

Durability rules:

* each result is one complete JSON line written with a single `os.write` on an
  `O_APPEND` descriptor (no user-space buffer to lose), and the file is fsynced every
  few seconds and at the end;
* on opening, a torn last line (the process was killed in the middle of a write) is cut
  away, and the custom ids already present are the ones a resumed run skips;
* a lock (`flock` on `OUTPUT.lock`, released by the kernel even after SIGKILL) stops two
  runs from writing the same file at once.

In ordered mode the writer holds results in a reorder buffer and writes them in input
order; what a stop leaves in the buffer behind a gap is dropped, so the file stays an
exact prefix of the input and a resumed run continues it in order.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from ..settings.private import open_private, private_fd
from ..types.text import clean_value

__all__ = [
    "OutputLockedError",
    "ResultWriter",
    "ResumeState",
    "check_output_is_not_input",
    "read_results",
    "scan_results",
]

FSYNC_EVERY = 2.0  # seconds between fsyncs while results arrive


class OutputLockedError(ConfigError):
    """Another run is writing the same results file."""


def check_output_is_not_input(output: Path, input_path: Path) -> None:
    """Refuse an output that is the input itself: the same path, a symlink to it or a hard
    link (the same device and inode), which would append the results to the input."""
    try:
        same = os.path.samefile(output, input_path)
    except OSError:  # the output does not exist yet (or cannot be looked at)
        same = output.resolve() == input_path.resolve()
    if same:
        raise ConfigError(
            f"The output {output} is the input file {input_path} (the same file, a link to "
            "it or a hard link): the results would be written into the input.",
            hint="Choose another -o, for example results.jsonl.",
        )


@dataclass(frozen=True)
class ResumeState:
    """What an existing results file holds: `done` ids answered, `failed` the subset written
    with an error; `torn` bytes cut from a torn last line; `corrupt` complete lines that
    are not results (left in place, never counted)."""

    done: frozenset[str]
    failed: frozenset[str]
    torn: int = 0
    corrupt: int = 0


def dumps_line(record: Mapping[str, Any]) -> bytes:
    """One results line. Lone surrogates in an answer are replaced by U+FFFD, as
    everywhere talkline stores text (the answer was paid for: it is never dropped)."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        return text.encode()
    except UnicodeEncodeError:
        return (json.dumps(clean_value(record), ensure_ascii=False, separators=(",", ":"))
                + "\n").encode()


def read_results(path: str | Path) -> Iterator[dict[str, Any]]:
    """The complete result lines of a file (a torn or unparsable line is skipped)."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _custom_id(raw: bytes) -> tuple[str | None, bool]:
    """(custom_id, failed) of one result line; (None, False) when it is not one."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None, False
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        return None, False
    return record["custom_id"], record.get("error") is not None


def scan_results(path: Path, *, repair: bool = False) -> ResumeState:
    """Read a results file for resuming; with `repair`, cut a torn last line away.

    A last line with no newline is torn, unless it is a whole result (the kill came
    just before the newline): that one is kept and given its newline.
    """
    done: set[str] = set()
    failed: set[str] = set()
    corrupt = 0
    good_end = 0
    complete_tail = False
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return ResumeState(frozenset(), frozenset())
    with fh:
        for raw in fh:
            last = not raw.endswith(b"\n")
            cid, is_failed = _custom_id(raw) if raw.strip() else (None, False)
            if last and cid is None:
                break  # a torn tail: everything after good_end goes
            good_end += len(raw)
            complete_tail = last
            if not raw.strip():
                continue
            if cid is None:
                corrupt += 1
                continue
            done.add(cid)
            if is_failed:
                failed.add(cid)
            else:
                failed.discard(cid)
        size = fh.seek(0, os.SEEK_END)
    torn = size - good_end
    if repair and (torn or complete_tail):
        with open(path, "r+b") as repair_fh:
            repair_fh.truncate(good_end)
            if complete_tail:
                repair_fh.seek(good_end)
                repair_fh.write(b"\n")
            repair_fh.flush()
            os.fsync(repair_fh.fileno())
    return ResumeState(frozenset(done), frozenset(failed), torn, corrupt)


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Write `path` through a temporary file beside it, fsynced and renamed into place on
    success; on any failure the temporary file is removed and `path` is untouched."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp",
                               dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _drop_failed(path: Path, failed: frozenset[str]) -> None:
    """Rewrite the file without the lines written with an error (atomically)."""
    with atomic_file(path) as out, open(path, "rb") as src:
        for raw in src:
            cid, is_failed = _custom_id(raw)
            if cid in failed and is_failed:
                continue
            out.write(raw)


class _Lock:
    """An exclusive lock on `path`, released by the kernel when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def acquire(self, what: Path) -> None:
        for _ in range(10):
            fh = open_private(self.path, "a+b")
            if not _try_lock(fh):
                fh.close()
                raise OutputLockedError(
                    f"Another talkline run is writing {what}.",
                    hint="Wait for it to finish (or stop it), or choose another file with -o.",
                )
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:  # not a file another run unlinked while we were opening it
                fh.truncate(0)
                fh.write(f"{os.getpid()}\n".encode())
                fh.flush()
                self._fh = fh
                return
            fh.close()
        raise OutputLockedError(f"Could not lock {self.path}.")

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        fh.close()  # closing releases the lock


def _try_lock(fh: IO[bytes]) -> bool:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class ResultWriter:
    """Appends result lines to `path`; see the module doc. Use `open`, then `close`."""

    def __init__(self, path: Path, fd: int, lock: _Lock, resume: ResumeState, *,
                 ordered: bool) -> None:
        self.path = path
        self.resume = resume
        self.ordered = ordered
        self.next_index = 0  # ordered mode: the next input position to write
        self.written = 0
        self._fd: int | None = fd
        self._lock = lock
        self._pending: dict[int, bytes | None] = {}
        self._last_sync = time.monotonic()

    @classmethod
    def open(cls, path: str | Path, *, ordered: bool = False, retry_failed: bool = False
             ) -> ResultWriter:
        """Lock the file, repair a torn tail and read which ids are done.

        With `retry_failed`, lines written with an error are removed first, so those
        requests run again.
        """
        path = Path(path)
        if path.parent and not path.parent.exists():
            raise ConfigError(f"The folder of {path} does not exist.")
        lock = _Lock(path.with_name(path.name + ".lock"))
        lock.acquire(path)
        try:
            resume = scan_results(path, repair=True)
            if retry_failed and resume.failed:
                _drop_failed(path, resume.failed)
                resume = ResumeState(resume.done - resume.failed, frozenset(), resume.torn,
                                     resume.corrupt)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
            fd = private_fd(path, flags)
        except BaseException:
            lock.release()
            raise
        return cls(path, fd, lock, resume, ordered=ordered)

    @property
    def done_ids(self) -> frozenset[str]:
        return self.resume.done

    @property
    def held(self) -> int:
        """Results waiting in the reorder buffer."""
        return sum(1 for v in self._pending.values() if v is not None)

    def skip(self, index: int) -> None:
        """Ordered mode: input position `index` needs no line (answered earlier)."""
        if self.ordered:
            self._pending[index] = None
            self._drain()

    def write(self, index: int, record: Mapping[str, Any]) -> None:
        """Write one result (in ordered mode: once every earlier position is written)."""
        data = dumps_line(record)
        if not self.ordered:
            self._append(data)
            return
        self._pending[index] = data
        self._drain()

    def _drain(self) -> None:
        while self.next_index in self._pending:
            data = self._pending.pop(self.next_index)
            self.next_index += 1
            if data is not None:
                self._append(data)

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError("the results file is closed")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop for the odd short write
            n = os.write(self._fd, view)
            view = view[n:]
        self.written += 1
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_EVERY:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            self._last_sync = time.monotonic()

    def close(self) -> int:
        """Sync, close and unlock; returns how many held results were dropped."""
        dropped = self.held
        self._pending.clear()
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._lock.release()
        return dropped

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
