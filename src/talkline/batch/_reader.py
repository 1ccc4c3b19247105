"""Reading a file of prompts as a stream, and validating it before anything is sent.

The file is read line by line, twice if need be: `scan_input` keeps only the custom ids
seen (to find duplicates) and the problems; `iter_requests` yields the valid requests
one at a time. Nothing holds the whole file in memory.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._input import (
    BatchRequest,
    InputOptions,
    InputReport,
    InvalidLine,
    LineProblem,
    check_body,
    parse_object,
    parse_prompt,
)

__all__ = ["iter_requests", "read_lines", "scan_input"]

def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its end) for every line of a file, streamed."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield number, raw.rstrip(b"\r\n")


def _records(path: Path, options: InputOptions) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record or an `InvalidLine`) for every non-blank record."""
    if options.format == "csv":
        yield from _csv_records(path, options)
        return
    for number, raw in read_lines(path):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, InvalidLine("the line is not UTF-8 text")
            continue
        if options.format == "text":
            yield number, _from_prompt_safe(text, f"line-{number}", options)
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield number, InvalidLine(f"not valid JSON ({_json_reason(exc)})")
            continue
        try:
            yield number, parse_object(obj, number, options)
        except InvalidLine as exc:
            yield number, exc


def _from_prompt_safe(text: str, cid: str, options: InputOptions) -> Any:
    try:
        return parse_prompt(text, cid, options)
    except InvalidLine as exc:
        return exc


def _csv_records(path: Path, options: InputOptions) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(f"{path}: cannot read the CSV header ({exc})") from None
        column = _column_index(header, options.column, path)
        id_column = _column_index(header, options.id_column, path) if options.id_column else None
        row_number = 0
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield start, InvalidLine("the row is not UTF-8 text")
                return
            except csv.Error as exc:
                yield start, InvalidLine(f"not valid CSV ({exc})")
                continue
            if not any(cell.strip() for cell in row):
                continue
            row_number += 1
            cid = f"row-{row_number}"
            if id_column is not None:
                cid = row[id_column] if id_column < len(row) else ""
                if not cid.strip():
                    yield start, InvalidLine(f"the id column {options.id_column!r} is empty")
                    continue
            text = row[column] if column < len(row) else ""
            yield start, _from_prompt_safe(text, cid, options)


def _column_index(header: list[str], name: str | None, path: Path) -> int:
    names = [h.strip() for h in header]
    if name in names:
        return names.index(name)
    raise ConfigError(
        f"{path} has no column {name!r}",
        hint=f"Its columns are: {', '.join(repr(n) for n in names)}.",
    )


def _json_reason(exc: ValueError) -> str:
    text = str(exc)
    return re.sub(r":\s*line \d+ column (\d+) \(char \d+\)", r" at column \1", text)


def _walk(path: Path, options: InputOptions, invalid: frozenset[int] | None = None
          ) -> Iterator[BatchRequest | LineProblem]:
    """Requests and problems in file order. With `invalid` (the line numbers a first
    pass found bad) those lines are skipped and custom ids are not tracked again, so a
    second pass holds nothing per line."""
    seen: dict[str, int] | None = {} if invalid is None else None
    index = 0
    for number, record in _records(path, options):
        if invalid is not None and number in invalid:
            continue
        if isinstance(record, InvalidLine):
            yield LineProblem(number, record.message, record.custom_id)
            continue
        cid, body = record
        first = seen.get(cid) if seen is not None else None
        if first is not None:
            yield LineProblem(number, f"duplicate custom_id {cid!r} (first on line {first})",
                              cid)
            continue
        why = check_body(body)
        if why is not None:
            yield LineProblem(number, why, cid)
            continue
        if seen is not None:
            seen[cid] = number
        yield BatchRequest(cid, body, number, index)
        index += 1


def scan_input(path: str | Path, options: InputOptions | None = None, *,
               keep_problems: int = 1000) -> InputReport:
    """Validate the whole file in one streaming pass (nothing is sent)."""
    path = Path(path)
    valid = unbounded = 0
    invalid: set[int] = set()
    problems: list[LineProblem] = []
    for item in _walk(path, options or InputOptions()):
        if isinstance(item, BatchRequest):
            valid += 1
            body = item.body
            if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
                unbounded += 1
            continue
        invalid.add(item.line)
        if len(problems) < keep_problems:
            problems.append(item)
    return InputReport(path, valid, tuple(problems), len(invalid), unbounded,
                       frozenset(invalid))


def iter_requests(path: str | Path, options: InputOptions | None = None, *,
                  report: InputReport | None = None) -> Iterator[BatchRequest]:
    """The valid requests, streamed in file order (invalid lines are left out).

    Pass the `report` of `scan_input` on the same file and options to skip the lines
    it found bad without tracking custom ids again: memory then stays flat.
    """
    invalid = report.invalid_lines if report is not None else None
    for item in _walk(Path(path), options or InputOptions(), invalid):
        if isinstance(item, BatchRequest):
            yield item
