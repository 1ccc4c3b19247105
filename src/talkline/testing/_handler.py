"""The HTTP request handler of the scripted server: reads, records and routes each request
(what it answers is written by `_responses.Responder`)."""

from __future__ import annotations

import json
import math
import secrets
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._actions import Error, Fault, Reply
from ._batch import ApiError
from ._completions import CompletionsResponder
from ._ratelimit import go_duration
from ._recorded import RecordedRequest
from ._render import (
    completion_object,
    dumps,
    estimate_tokens,
    stream_plan,
)
from ._responses import ClientGone
from ._responses_handler import ResponsesResponder

if TYPE_CHECKING:
    from .server import _HTTPServer

__all__ = ["Handler"]

_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)


class Handler(CompletionsResponder, ResponsesResponder):
    server_version = "scripted-openai/1.0"
    sys_version = ""
    # Headers and body go out in separate writes: with Nagle on, the client's delayed ACK
    # would add ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _HTTPServer

    # ---- plumbing ----
    def setup(self) -> None:
        super().setup()
        self.owner.add_live(self.connection)
        if self.owner.stopping.is_set():
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner.drop_live(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        self.request_id = "req_" + secrets.token_hex(16)
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        body: Any = None
        bad_json = False
        if raw and "multipart/" not in self.headers.get("Content-Type", ""):
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        host, port = self.client_address[:2]
        self.owner.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
                time=time.monotonic(),
                client=(str(host), int(port)),
            )
        )
        try:
            self._route(body, raw, bad_json)
        except ClientGone:  # counted: a relay's test sees its upstream request cancelled
            self.owner.count("gone")
            self.close_connection = True
        except Exception:  # a bug in the server: say so loudly, answer 500
            traceback.print_exc()
            self.close_connection = True
            try:
                self._send_error(Error(message="scripted server bug, see its stderr"))
            except Exception:
                pass

    # ---- routing ----
    def _route(self, body: Any, raw: bytes, bad_json: bool) -> None:
        route = self.path.split("?", 1)[0].rstrip("/")
        method = self.command
        self._text_body = None  # a kept-alive connection: the last request's dialect gone
        key = self.owner.require_key
        is_chat = method == "POST" and route in ("/v1/chat/completions", "/v1/responses",
                                                 "/v1/completions")
        if is_chat:
            self.owner.count("requests")
        if key is not None and self.headers.get("Authorization", "") != f"Bearer {key}":
            self._send_error(Error.invalid_key(), counted=is_chat)
            return
        if bad_json:
            self._send_error(Error(400, _BAD_JSON, "invalid_request_error"), counted=is_chat)
            return
        parts = route.split("/")[1:]  # "", "v1", ...
        try:
            if is_chat and route == "/v1/responses":
                self._responses(body)
            elif is_chat and route == "/v1/completions":
                self._completions(body)
            elif is_chat:
                self._chat(body)
            elif method == "GET" and route == "/v1/models":
                data = [
                    {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "scripted"}
                    for m in self.owner.models
                ]
                self._send_json(200, {"object": "list", "data": data})
            elif method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "models"]:
                if parts[2] not in self.owner.models:
                    self._send_error(Error.not_found_model(parts[2]))
                else:
                    self._send_json(
                        200,
                        {
                            "id": parts[2],
                            "object": "model",
                            "created": 1_700_000_000,
                            "owned_by": "scripted",
                        },
                    )
            elif parts[:2] == ["v1", "files"] or parts[:2] == ["v1", "batches"]:
                self._batch_api(method, parts[1:], body, raw)
            else:
                self._send_error(
                    Error(404, f"Invalid URL ({method} {route})", "invalid_request_error")
                )
        except ApiError as e:
            self._send_error(Error(e.status, e.message, e.type, e.code, e.param))

    def _batch_api(self, method: str, parts: list[str], body: Any, raw: bytes) -> None:
        store, owner = self.owner.batches, self.owner
        step, answer = owner.batch_step_seconds, owner.batch_answer
        if parts == ["files"] and method == "POST":
            self._send_json(200, store.upload(self.headers.get("Content-Type", ""), raw))
        elif parts == ["files"] and method == "GET":
            self._send_json(200, store.list_files())
        elif len(parts) == 2 and parts[0] == "files" and method == "GET":
            self._send_json(200, store.file_meta(parts[1]))
        elif len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            data = store.file_content(parts[1])
            self._send_bytes(200, data, "application/octet-stream")
        elif parts == ["batches"] and method == "POST":
            self._send_json(200, store.create(body, owner.batch_max_lines))
        elif parts == ["batches"] and method == "GET":
            self._send_json(200, store.list(step, answer))
        elif len(parts) == 2 and parts[0] == "batches" and method == "GET":
            self._send_json(200, store.get(parts[1], step, answer))
        elif len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
            self._send_json(200, store.cancel(parts[1]))
        else:
            route = "/v1/" + "/".join(parts)
            self._send_error(Error(404, f"Invalid URL ({method} {route})", "invalid_request_error"))

    # ---- chat completions ----
    def _chat(self, body: Any) -> None:
        if not isinstance(body, Mapping):
            self._send_error(Error(400, _BAD_JSON, "invalid_request_error"), counted=True)
            return
        for name in ("model", "messages"):
            if name not in body:
                self._send_error(
                    Error(
                        400,
                        f"Missing required parameter: '{name}'.",
                        "invalid_request_error",
                        "missing_required_parameter",
                        name,
                    ),
                    counted=True,
                )
                return
        limiter = self.owner.limiter
        if limiter.active:
            tokens = estimate_tokens(body)
            verdict = limiter.try_acquire(tokens)
            if not verdict.ok:
                self._send_error(
                    self._limit_error(body, tokens, verdict.kind, verdict.wait, verdict.too_large),
                    counted=True,
                )
                return
        self._perform(self.owner.next_action(body), body)

    def _limit_error(
        self, body: Mapping[str, Any], tokens: int, kind: str, wait: float, too_large: bool
    ) -> Error:
        lim = self.owner.limiter
        model = body.get("model") or self.owner.model
        if too_large:
            return Error(
                429,
                f"Request too large for {model} in organization org-scripted on tokens per min "
                f"(TPM): Limit {int(lim.tpm or 0)}, Requested {tokens}. The input or output "
                "tokens must be reduced in order to run successfully. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                "tokens",
                "rate_limit_exceeded",
            )
        if kind == "tokens":
            unit, limit, requested = "tokens per min (TPM)", lim.tpm, tokens
            bucket = lim.tokens
        else:
            unit, limit, requested = "requests per min (RPM)", lim.rpm, 1
            bucket = lim.requests
        used = int(limit or 0) - (bucket.remaining_per_minute() if bucket else 0)
        ms = max(1, math.ceil(wait * 1000))
        return Error(
            429,
            f"Rate limit reached for {model} in organization org-scripted on {unit}: "
            f"Limit {int(limit or 0)}, Used {used}, Requested {requested}. Please try again in "
            f"{go_duration(ms / 1000)}. Visit https://platform.openai.com/account/rate-limits "
            "to learn more.",
            kind,
            "rate_limit_exceeded",
            headers={"retry-after-ms": str(ms)},
        )

    def _perform(self, action: Reply | Error | Fault, body: Mapping[str, Any]) -> None:
        stream = bool(body.get("stream"))
        if isinstance(action, Error):
            self._send_error(action, counted=True)
        elif isinstance(action, Reply):
            if not self.owner.sleep(self.owner.latency):
                raise ClientGone
            self.owner.count("ok")
            if stream:
                self._stream(action, body)
            else:
                obj = completion_object(action, body, self.owner.model)
                self._send_json(200, obj, action.headers)
        elif action.kind == "slow_first_byte":
            if not self.owner.sleep(action.seconds):
                raise ClientGone
            self._perform(action.then or Reply(), body)
        elif action.kind == "error_event" and not stream:
            self._send_error(action.as_error(), counted=True)
        else:
            self.owner.count("faults")
            self._fault(action, body, stream)

    def _fault(self, fault: Fault, body: Mapping[str, Any], stream: bool) -> None:
        k = fault.after_chunks
        if fault.kind == "reset" and k is None:
            self._rst()
        if not stream:
            data = dumps(completion_object(fault.reply, body, self.owner.model)).encode()
            if fault.kind == "stall" and not k:
                self.owner.sleep(fault.seconds)
                raise ClientGone
            self.send_response(200)
            self._headers("application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self._write(data[: len(data) // 2])
            if fault.kind == "reset":
                self._rst()
            if fault.kind == "stall":
                self.owner.sleep(fault.seconds)
            raise ClientGone
        plan = stream_plan(fault.reply, body, self.owner.model)
        self._start_stream(fault.reply.headers)
        for chunk in plan.head + plan.body[: k or 0]:
            self._event(chunk, fault.reply)
        if fault.kind == "reset":
            self._rst()
        if fault.kind == "stall" and not self.owner.sleep(fault.seconds):
            raise ClientGone
        if fault.kind == "error_event":
            self._event({"error": fault.as_error().error_object()}, fault.reply)
        self._end_stream()

    # ---- streaming ----
