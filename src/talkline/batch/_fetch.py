"""`fetch`: download a batch's output and error files and merge them into one results file.

The Batch API returns results in no particular order, successes and failures in two
files. The merged file has one line per custom_id (the provider's lines, unchanged), in
input order when the input file is given, else in natural custom_id order (`line-2`
before `line-10`). Downloads go to temporary files and only an index (custom_id ->
where the line is) is kept in memory; the output is replaced atomically at the end.
Costs are computed at batch prices. A line that carries the API key (a hostile server
echoing it, in any of the shapes `wire.redact` knows) has it replaced by `***` before it
is written or stored; every other line is written as the provider sent it.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ResponseFormatError, TalklineError
from ..settings.private import open_private
from ..wire.parse import parse_chat_response
from ..wire.redact import Redactor
from ._api import TERMINAL_STATUSES, BatchAPI
from ._input import InputOptions
from ._log import ConversationLog
from ._output import atomic_file
from ._reader import iter_requests
from ._records import line_cost

__all__ = ["BatchNotReadyError", "FetchSummary", "fetch_results", "natural_key"]


class BatchNotReadyError(TalklineError):
    """A batch has no results to download yet."""


@dataclass
class FetchSummary:
    """What `fetch_results` wrote. `missing` lists (up to 20) input ids with no result."""

    output: Path
    batches: list[dict[str, Any]]
    lines: int = 0
    succeeded: int = 0
    failed: int = 0
    duplicates: int = 0
    missing: list[str] = field(default_factory=list)
    missing_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cost_estimated: bool = False
    unpriced_models: set[str] = field(default_factory=set)
    logged: int = 0


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key putting `row-2` before `row-10`."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


@dataclass(frozen=True)
class _Where:
    file: int
    offset: int
    length: int


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    fh.seek(0)
    offset = 0
    for raw in fh:
        yield offset, raw
        offset += len(raw)


def _ok(record: dict[str, Any]) -> bool:
    response = record.get("response")
    return record.get("error") is None and isinstance(response, dict) and (
        response.get("status_code") == 200
    )


def _account(summary: FetchSummary, record: dict[str, Any], catalog: Any
             ) -> tuple[float | None, bool]:
    if not _ok(record):
        summary.failed += 1
        return None, False
    summary.succeeded += 1
    body = record["response"].get("body")
    if not isinstance(body, dict):
        return None, False
    try:
        usage = parse_chat_response(body, require_choice=False).usage
    except ResponseFormatError:
        return None, False  # kept in the results as sent; not counted nor priced
    if usage is not None:
        summary.prompt_tokens += usage.prompt_tokens
        summary.completion_tokens += usage.completion_tokens
    model = str(body.get("model") or "")
    cost, estimated = line_cost(model, usage, batch=True, catalog=catalog)
    if cost is None:
        if usage is not None and model:
            summary.unpriced_models.add(model)
        return None, False
    summary.cost = (summary.cost or 0.0) + cost
    summary.cost_estimated = summary.cost_estimated or estimated
    return cost, estimated


def _ready(batches: list[dict[str, Any]]) -> None:
    waiting = [b for b in batches if not (b.get("output_file_id") or b.get("error_file_id"))
               and b.get("status") not in TERMINAL_STATUSES]
    if waiting:
        described = ", ".join(f"{b.get('id')} ({b.get('status')})" for b in waiting)
        ids = " ".join(str(b.get("id")) for b in waiting)
        raise BatchNotReadyError(
            f"No results yet for {described}.",
            hint=f"Wait for them with: talkline batch status --wait {ids}",
        )


def fetch_results(
    api: BatchAPI,
    batch_ids: list[str],
    output: str | Path,
    *,
    input_path: str | Path | None = None,
    input_options: InputOptions | None = None,
    log: ConversationLog | None = None,
    catalog: Any = None,
) -> FetchSummary:
    """Download and merge the results of `batch_ids` into `output` (see the module doc).

    With `input_path`, lines come out in input order and `log` (which needs the prompts)
    stores each answer as a conversation with `batch=1`.
    """
    output = Path(output)
    batches = [api.retrieve(b) for b in batch_ids]
    _ready(batches)
    summary = FetchSummary(output, batches)
    file_ids = [str(b[k]) for b in batches for k in ("output_file_id", "error_file_id")
                if b.get(k)]
    with tempfile.TemporaryDirectory(prefix="talkline-fetch-") as tmp:
        handles: list[IO[bytes]] = []
        try:
            index: dict[str, _Where] = {}
            costs: dict[str, tuple[float | None, bool]] = {}
            for number, file_id in enumerate(file_ids):
                fh = open_private(Path(tmp) / f"{number}.jsonl", "w+b")
                handles.append(fh)
                api.download(file_id, fh)
                for offset, raw in _lines(fh):
                    if not raw.strip():
                        continue
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue
                    cid = record.get("custom_id") if isinstance(record, dict) else None
                    if not isinstance(cid, str):
                        continue
                    if cid in index:
                        summary.duplicates += 1
                        continue
                    index[cid] = _Where(number, offset, len(raw))
                    cost = _account(summary, record, catalog)
                    if log is not None:
                        costs[cid] = cost
            _write(output, index, handles, summary, input_path, input_options, log, costs,
                   api.connection.answer_redactor)
        finally:
            for handle in handles:
                handle.close()
    return summary


def _write(output: Path, index: dict[str, _Where], handles: list[IO[bytes]],
           summary: FetchSummary, input_path: str | Path | None,
           input_options: InputOptions | None, log: ConversationLog | None,
           costs: dict[str, tuple[float | None, bool]], redactor: Redactor) -> None:
    def read(where: _Where) -> bytes:
        fh = handles[where.file]
        fh.seek(where.offset)
        raw = _scrubbed(fh.read(where.length), redactor)
        return raw if raw.endswith(b"\n") else raw + b"\n"

    with atomic_file(output) as out:
        if input_path is not None:
            for request in iter_requests(input_path, input_options):
                where = index.pop(request.custom_id, None)
                if where is None:
                    summary.missing_count += 1
                    if len(summary.missing) < 20:
                        summary.missing.append(request.custom_id)
                    continue
                raw = read(where)
                out.write(raw)
                summary.lines += 1
                if log is not None and _log_line(log, request.body, raw,
                                                 costs.get(request.custom_id)):
                    summary.logged += 1
        for cid in sorted(index, key=natural_key):
            out.write(read(index[cid]))
            summary.lines += 1


def _scrubbed(raw: bytes, redactor: Redactor) -> bytes:
    """`raw` with every form of the key replaced by `***` (still valid JSON: the forms are
    replaced inside strings), or `raw` itself when it holds none."""
    text = raw.decode("utf-8", "surrogateescape")
    clean = redactor.text(text)
    return raw if clean == text else clean.encode("utf-8", "surrogateescape")


def _log_line(log: ConversationLog, body: dict[str, Any], raw: bytes,
              cost: tuple[float | None, bool] | None) -> bool:
    record = json.loads(raw)
    response_body = record["response"].get("body") if _ok(record) else None
    if not isinstance(response_body, dict):
        return False
    amount, estimated = cost or (None, False)
    try:
        log.add_batch_line(body, response_body, amount, estimated)
    except ResponseFormatError:
        return False  # an answer of the wrong shape stays in the results, unlogged
    return True
