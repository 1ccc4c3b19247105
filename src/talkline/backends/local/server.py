"""llama.cpp's own HTTP server, embedded in this process by `xllamacpp`.

One server per process per (model file, context, threads), started on first use and
stopped at exit. It listens on 127.0.0.1 on a port the OS picks, answers only requests
that carry a random per-process API key (never printed or stored), and sends no CORS
grant. talkline then talks to it over the same HTTP wire as any remote server.

The context window: the one asked for, else the model's training context capped at
8192; the server reports both in `/v1/models` (`meta.n_ctx`, `meta.n_ctx_train`).
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...wire import models as wire_models
from ...wire.connection import Connection
from ...wire.timeouts import Timeouts

__all__ = [
    "LOCAL_EXTRA_MESSAGE",
    "MAX_DEFAULT_CONTEXT",
    "LocalServer",
    "default_threads",
    "server_for",
    "stop_all",
]

MAX_DEFAULT_CONTEXT = 8192  # cap on the model's training context when n_ctx is not given

LOCAL_EXTRA_MESSAGE = (
    "The embedded model needs the local extra: pip install 'talkline[local]' "
    "(xllamacpp, a prebuilt wheel)."
)


def default_threads() -> int:
    """Threads for generation when the spec does not say: every usable CPU, as llama.cpp
    is fastest that way on an idle machine.

    Its threads wait for each other at every layer, so when other processes want the
    cores (a parallel test run) fewer threads do better: `TALKLINE_LOCAL_THREADS` or
    `n_threads` in `[models.NAME]` overrides the default.
    """
    env = os.environ.get("TALKLINE_LOCAL_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"TALKLINE_LOCAL_THREADS must be a whole number >= 1, got {env!r}")
        return int(env)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return max(1, usable)


@dataclass
class LocalServer:
    """A running embedded server. `api_key` is for this process only: never show it."""

    path: Path
    model_id: str
    base_url: str  # http://127.0.0.1:PORT/v1
    api_key: str
    n_ctx: int
    n_ctx_train: int
    load_seconds: float
    handle: Any
    _connection: Connection | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"LocalServer({self.model_id!r}, {self.base_url!r}, n_ctx={self.n_ctx})"

    def connection(self) -> Connection:
        """The wire to this server for its extras (`/tokenize`, `/apply-template`)."""
        with _CONNECTION_LOCK:
            if self._connection is None:
                conn = Connection(self.base_url, self.api_key, timeouts=Timeouts(read=60.0))
                weakref.finalize(self, conn.close)  # a server dropped unstopped lets it go
                self._connection = conn
            return self._connection

    def stop(self) -> None:
        handle, self.handle = self.handle, None
        with _CONNECTION_LOCK:
            conn, self._connection = self._connection, None
        if conn is not None:
            conn.close()
        del handle  # xllamacpp stops its server loop when the object goes


_LOCK = threading.Lock()
_CONNECTION_LOCK = threading.Lock()
_SERVERS: dict[tuple[Path, int | None, int], LocalServer] = {}


def _xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise ConfigError(LOCAL_EXTRA_MESSAGE) from exc
    return xllamacpp


def _start(xl: Any, path: Path, model_id: str, n_ctx: int, threads: int, key: str) -> Any:
    params = xl.CommonParams()
    params.model.path = str(path)
    params.model_alias = {model_id}
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_parallel = 1
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port
    params.api_keys = [key]
    params.cors_origins = ""
    params.ui = False
    params.endpoint_props = False
    params.endpoint_slots = False
    params.verbosity = -1
    return xl.Server(params)


def _meta(base_url: str, key: str) -> dict[str, Any]:
    """llama.cpp's `meta` of the served model (`n_ctx`, `n_ctx_train`), from /v1/models."""
    conn = Connection(base_url, key, timeouts=Timeouts(read=30.0))
    try:
        data = wire_models.list_models(conn) or [{}]
    finally:
        conn.close()
    meta = data[0].get("meta") or {}
    return meta if isinstance(meta, dict) else {}


def server_for(path: Path, model_id: str, *, n_ctx: int | None, threads: int,
               name: str) -> LocalServer:
    """The running server for this file and settings, started on first use."""
    key_ = (path, n_ctx, threads)
    with _LOCK:
        running = _SERVERS.get(key_)
        if running is not None and running.handle is not None:
            return running
        xl = _xllamacpp()
        key = secrets.token_urlsafe(32)
        started = time.perf_counter()
        try:
            handle = _start(xl, path, model_id, n_ctx or MAX_DEFAULT_CONTEXT, threads, key)
            base_url = str(handle.listening_address).rstrip("/") + "/v1"
            meta = _meta(base_url, key)
            trained = int(meta.get("n_ctx_train") or 0)
            if n_ctx is None and 0 < trained < MAX_DEFAULT_CONTEXT:
                del handle  # a model trained on less: use its own window
                handle = _start(xl, path, model_id, trained, threads, key)
                base_url = str(handle.listening_address).rstrip("/") + "/v1"
                meta = _meta(base_url, key)
        except Exception as exc:
            text = str(exc).replace(key, "[redacted]")
            raise ConfigError(
                f"Could not start the local model {name!r} from {path}: {text}",
                hint="Check that the file is a complete GGUF model llama.cpp supports.",
            ) from None
        server = LocalServer(
            path=path, model_id=model_id, base_url=base_url, api_key=key,
            n_ctx=int(meta.get("n_ctx") or n_ctx or MAX_DEFAULT_CONTEXT),
            n_ctx_train=int(meta.get("n_ctx_train") or 0),
            load_seconds=time.perf_counter() - started, handle=handle,
        )
        if not _SERVERS:
            atexit.register(stop_all)
        _SERVERS[key_] = server
        return server


def running(path: Path, n_ctx: int | None, threads: int) -> LocalServer | None:
    server = _SERVERS.get((path, n_ctx, threads))
    return server if server is not None and server.handle is not None else None


def stop_all() -> None:
    """Stop every embedded server (at exit, or to free the memory)."""
    with _LOCK:
        for server in _SERVERS.values():
            server.stop()
        _SERVERS.clear()
