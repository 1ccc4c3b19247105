"""In-memory Files and Batch API for the scripted server."""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._render import dumps, new_id

__all__ = ["BatchStore", "parse_multipart"]

# Answers one batch line's body: (HTTP status, response body).
Answerer = Callable[[Mapping[str, Any]], "tuple[int, dict[str, Any]]"]

CHAT_ENDPOINT = "/v1/chat/completions"
_STEPS = {"validating": "in_progress", "in_progress": "finalizing", "finalizing": "completed"}
_TERMINAL = {"completed", "failed", "expired", "cancelled"}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``multipart/form-data`` -> {field name: (filename or None, content)}."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m or not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "Expected a multipart/form-data body.")
    delimiter = b"--" + m.group(1).encode("latin-1")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in raw.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part.lstrip(b"\n")
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = part.partition(b"\n\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        headers = head.decode("utf-8", "replace")
        name = re.search(r'(?i)content-disposition:[^\n]*?\bname="([^"]*)"', headers)
        if not name:
            continue
        filename = re.search(r'(?i)content-disposition:[^\n]*?\bfilename="([^"]*)"', headers)
        fields[name.group(1)] = (filename.group(1) if filename else None, content)
    return fields


@dataclass
class _File:
    meta: dict[str, Any]
    data: bytes


@dataclass
class _Batch:
    obj: dict[str, Any]
    lines: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    changed: float = field(default_factory=time.monotonic)


class BatchStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self._rng = random.Random()

    # ---- files ----
    def add_file(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        file_id = new_id("file-")
        meta: dict[str, Any] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        with self._lock:
            self.files[file_id] = _File(meta, data)
        return dict(meta)

    def upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        fields = parse_multipart(content_type, raw)
        if "file" not in fields:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        if "purpose" not in fields:
            raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
        filename, data = fields["file"]
        purpose = fields["purpose"][1].decode("utf-8", "replace").strip()
        return self.add_file(filename or "upload.jsonl", purpose, data)

    def _file(self, file_id: str) -> _File:
        with self._lock:
            f = self.files.get(file_id)
        if f is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return f

    def file_meta(self, file_id: str) -> dict[str, Any]:
        return dict(self._file(file_id).meta)

    def file_content(self, file_id: str) -> bytes:
        return self._file(file_id).data

    def list_files(self) -> dict[str, Any]:
        with self._lock:
            data = [dict(f.meta) for f in self.files.values()]
        return {"object": "list", "data": data, "has_more": False}

    # ---- batches ----
    def create(self, req: Any, max_lines: int) -> dict[str, Any]:
        if not isinstance(req, Mapping):
            raise ApiError(400, "Expected a JSON object body.")
        file_id: Any = req.get("input_file_id")
        if not isinstance(file_id, str):
            raise ApiError(
                400, "Missing required parameter: 'input_file_id'.", param="input_file_id"
            )
        endpoint = req.get("endpoint")
        if endpoint != CHAT_ENDPOINT:
            raise ApiError(
                400,
                f"Invalid value for 'endpoint': {endpoint!r}. Supported: {CHAT_ENDPOINT}.",
                param="endpoint",
            )
        if req.get("completion_window") != "24h":
            raise ApiError(
                400,
                "Invalid value for 'completion_window': only '24h' is supported.",
                param="completion_window",
            )
        with self._lock:
            f = self.files.get(str(file_id))
        if f is None:
            raise ApiError(
                400,
                f"Invalid 'input_file_id': '{file_id}'. File does not exist.",
                param="input_file_id",
            )
        lines, problems = _read_lines(f.data, max_lines)
        now = int(time.time())
        obj: dict[str, Any] = {
            "id": new_id("batch_"),
            "object": "batch",
            "endpoint": endpoint,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "created_at": now,
            "expires_at": now + 86400,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": req.get("metadata") if isinstance(req.get("metadata"), dict) else None,
        }
        if obj["metadata"] is None:
            del obj["metadata"]
        models = [ln["body"].get("model") for ln in lines if isinstance(ln.get("body"), Mapping)]
        if models and isinstance(models[0], str):
            obj["model"] = models[0]
        with self._lock:
            self.batches[obj["id"]] = _Batch(obj, lines, problems)
        return dict(obj)

    def get(self, batch_id: str, step_seconds: float, answer: Answerer) -> dict[str, Any]:
        with self._lock:
            b = self._batch(batch_id)
            if step_seconds <= 0:
                self._advance(b, answer)
            else:
                self._advance_by_time(b, step_seconds, answer)
            return dict(b.obj)

    def list(self, step_seconds: float, answer: Answerer) -> dict[str, Any]:
        with self._lock:
            if step_seconds > 0:
                for b in self.batches.values():
                    self._advance_by_time(b, step_seconds, answer)
            data = [dict(b.obj) for b in reversed(list(self.batches.values()))]
        out: dict[str, Any] = {"object": "list", "data": data, "has_more": False}
        if data:
            out["first_id"], out["last_id"] = data[0]["id"], data[-1]["id"]
        return out

    def cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            b = self._batch(batch_id)
            status = b.obj["status"]
            if status in _TERMINAL or status == "cancelling":
                raise ApiError(409, f"Cannot cancel a batch with status '{status}'.")
            self._set(b, "cancelling")
            return dict(b.obj)

    def _batch(self, batch_id: str) -> _Batch:
        b = self.batches.get(batch_id)
        if b is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        return b

    def _set(self, b: _Batch, status: str) -> None:
        b.obj["status"] = status
        b.obj[f"{status}_at"] = int(time.time())
        b.changed = time.monotonic()

    def _advance_by_time(self, b: _Batch, step_seconds: float, answer: Answerer) -> None:
        while b.obj["status"] not in _TERMINAL and time.monotonic() - b.changed >= step_seconds:
            due = b.changed + step_seconds
            self._advance(b, answer)
            b.changed = due

    def _advance(self, b: _Batch, answer: Answerer) -> None:
        status = b.obj["status"]
        if status in _TERMINAL:
            return
        if status == "cancelling":
            self._set(b, "cancelled")
            return
        if status == "validating" and b.problems:
            b.obj["errors"] = {"object": "list", "data": b.problems}
            self._set(b, "failed")
            return
        nxt = _STEPS[status]
        if nxt == "finalizing":
            self._run(b, answer)
        self._set(b, nxt)

    def _run(self, b: _Batch, answer: Answerer) -> None:
        ok_lines: list[str] = []
        bad_lines: list[str] = []
        input_tokens = output_tokens = 0
        for line in b.lines:
            status, body = answer(line["body"])
            request_id = "req_" + secrets.token_hex(16)
            out = {
                "id": new_id("batch_req_"),
                "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": request_id, "body": body},
                "error": None,
            }
            if status == 200:
                usage = body.get("usage") or {}
                input_tokens += int(usage.get("prompt_tokens", 0))
                output_tokens += int(usage.get("completion_tokens", 0))
                ok_lines.append(dumps(out))
            else:
                bad_lines.append(dumps(out))
        self._rng.shuffle(ok_lines)
        self._rng.shuffle(bad_lines)
        name = b.obj["id"]
        if ok_lines:
            meta = self.add_file(
                f"{name}_output.jsonl", "batch_output", ("\n".join(ok_lines) + "\n").encode()
            )
            b.obj["output_file_id"] = meta["id"]
        if bad_lines:
            meta = self.add_file(
                f"{name}_error.jsonl", "batch_output", ("\n".join(bad_lines) + "\n").encode()
            )
            b.obj["error_file_id"] = meta["id"]
        b.obj["request_counts"] = {
            "total": len(b.lines),
            "completed": len(ok_lines),
            "failed": len(bad_lines),
        }
        b.obj["usage"] = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }


def _problem(code: str, message: str, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _read_lines(data: bytes, max_lines: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw_lines = [(i, ln) for i, ln in enumerate(data.splitlines(), 1) if ln.strip()]
    if len(raw_lines) > max_lines:
        return [], [
            _problem(
                "too_many_requests",
                f"The input file contains {len(raw_lines)} requests, more than the maximum "
                f"of {max_lines} per batch.",
                None,
            )
        ]
    lines: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in raw_lines:
        try:
            item = json.loads(raw)
        except ValueError:
            problems.append(_problem("invalid_json_line", "This line is not valid JSON.", number))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
            problems.append(_problem("invalid_request", "Each line needs a 'body' object.", number))
            continue
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str):
            problems.append(_problem("missing_required_parameter", "Missing 'custom_id'.", number))
            continue
        if custom_id in seen:
            problems.append(
                _problem(
                    "duplicate_custom_id",
                    f"The custom_id '{custom_id}' is used more than once in the file.",
                    number,
                )
            )
            continue
        if item.get("url") != CHAT_ENDPOINT:
            problems.append(
                _problem(
                    "invalid_url",
                    f"The url must be '{CHAT_ENDPOINT}', like the batch endpoint.",
                    number,
                )
            )
            continue
        seen.add(custom_id)
        lines.append(item)
    return lines, problems
