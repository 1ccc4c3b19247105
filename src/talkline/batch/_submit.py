"""`submit`: validate a file of prompts, split it to the Batch API's limits, upload, create.

The Batch API takes at most 50,000 requests and 200 MB per input file. A bigger input is
cut into parts that each fit, written one at a time to a temporary file (so memory stays
flat), uploaded with `purpose=batch` and turned into its own batch.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TalklineError
from ..settings.private import open_private
from ._api import BatchAPI
from ._input import BatchRequest, InputOptions, InputReport, InvalidInputError
from ._reader import iter_requests, scan_input

__all__ = [
    "MAX_BYTES",
    "MAX_LINES",
    "PartialSubmitError",
    "SubmitResult",
    "SubmittedBatch",
    "split_requests",
    "submit",
]

MAX_LINES = 50_000
MAX_BYTES = 200 * 1000 * 1000


@dataclass(frozen=True)
class SubmittedBatch:
    """One created batch: the Batch and File objects, and which input part it holds."""

    batch: dict[str, Any]
    file: dict[str, Any]
    part: int
    lines: int
    bytes: int

    @property
    def id(self) -> str:
        return str(self.batch.get("id"))


@dataclass(frozen=True)
class SubmitResult:
    report: InputReport
    batches: tuple[SubmittedBatch, ...]


class PartialSubmitError(TalklineError):
    """Some parts were submitted, then one failed; `batches` are the ones created."""

    def __init__(self, message: str, batches: list[SubmittedBatch], cause: TalklineError
                 ) -> None:
        ids = ", ".join(b.id for b in batches)
        super().__init__(
            f"{message}\nAlready created (these will run): {ids}",
            hint="Fetch those with `talkline batch fetch`, and submit the remaining lines "
            "again (or cancel them with `talkline batch cancel`).",
        )
        self.batches = batches
        self.cause = cause


@dataclass(frozen=True)
class _Part:
    path: Path
    lines: int
    bytes: int


def split_requests(requests: Iterable[BatchRequest], directory: Path, *,
                   max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> Iterator[_Part]:
    """Write the requests as Batch API lines into part files in `directory`, each under
    both limits; each part is yielded once complete (and may be deleted by the caller)."""
    if max_lines < 1 or max_bytes < 2:
        raise ConfigError("max_lines and max_bytes must be positive")
    number = 0
    fh = None
    lines = size = 0
    path = directory / "part-0.jsonl"
    try:
        for request in requests:
            data = (json.dumps(request.to_line(), ensure_ascii=False, separators=(",", ":"))
                    + "\n").encode()
            if len(data) >= max_bytes:
                raise ConfigError(
                    f"Line {request.line} ({request.custom_id}) is {len(data):,} bytes: more "
                    f"than a batch file may hold ({max_bytes:,} bytes)."
                )
            if fh is not None and (lines >= max_lines or size + len(data) >= max_bytes):
                fh.close()
                fh = None
                yield _Part(path, lines, size)
            if fh is None:
                number += 1
                path = directory / f"part-{number}.jsonl"
                fh = open_private(path, "wb")
                lines = size = 0
            fh.write(data)
            lines += 1
            size += len(data)
        if fh is not None:
            fh.close()
            fh = None
            yield _Part(path, lines, size)
    finally:
        if fh is not None:
            fh.close()


def submit(
    path: str | Path,
    api: BatchAPI,
    options: InputOptions | None = None,
    *,
    skip_invalid: bool = False,
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_BYTES,
    metadata: Mapping[str, str] | None = None,
    report: InputReport | None = None,
    on_batch: Callable[[SubmittedBatch], None] | None = None,
) -> SubmitResult:
    """Validate `path` (raises `InvalidInputError` unless `skip_invalid`), then upload and
    create one batch per part. `on_batch` is called as each batch is created."""
    path = Path(path)
    options = options or InputOptions()
    report = report or scan_input(path, options)
    if not report.ok and not skip_invalid:
        raise InvalidInputError(report)
    if report.valid == 0:
        raise ConfigError(f"{path} holds no request to send.")
    parts_total = -(-report.valid // max_lines)  # at least; bytes may add more
    done: list[SubmittedBatch] = []
    with tempfile.TemporaryDirectory(prefix="talkline-batch-") as tmp:
        parts = split_requests(iter_requests(path, options, report=report), Path(tmp),
                               max_lines=max_lines, max_bytes=max_bytes)
        for number, part in enumerate(parts, 1):
            meta = {"source": "talkline", "input": path.name[:200], "part": str(number),
                    **(metadata or {})}
            name = f"{path.stem}.part{number}.jsonl" if parts_total > 1 else path.name
            try:
                file = api.upload(part.path, filename=name)
                batch = api.create(str(file["id"]), metadata=meta)
            except TalklineError as exc:
                if not done:
                    raise
                raise PartialSubmitError(f"Submitting part {number} failed: {exc.message}",
                                         done, exc) from exc
            finally:
                part.path.unlink(missing_ok=True)
            submitted = SubmittedBatch(batch, file, number, part.lines, part.bytes)
            done.append(submitted)
            if on_batch is not None:
                on_batch(submitted)
    return SubmitResult(report, tuple(done))
