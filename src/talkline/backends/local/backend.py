"""The embedded offline model: a GGUF file served by llama.cpp's own server (`xllamacpp`).

The server runs inside this process (see `local_server`), on 127.0.0.1 with a random
per-process key, and talkline talks to it through the same HTTP wire as to any remote
server (`RemoteBackend` / `AsyncRemoteBackend`). Streaming, stop sequences, tools and
JSON-schema output come from llama.cpp itself.

The default model is SmolLM2-135M-Instruct (Q4_1), installed by `talkline local install`
(see `local_files`; the first local use installs it). Other GGUF files are given by
name in config.toml (`[models.NAME] path = "..."`), and the client passes their
`LocalModelSpec` to the backend; a spec named `local` replaces the default model.

Defaults a 135M model needs, applied to every request unless the caller set them:
`max_tokens` 512, `repeat_penalty` 1.1 (llama.cpp's, via extra_body), temperature 0
(greedy: the same answer every time);
a `default_system_prompt` when the request has no system/developer message; and a
`RepeatGuard` that ends the answer when the same non-blank line of >= 20 characters comes
3 times in a row (not under a JSON response_format or a grammar). An answer ended by the
guard keeps its text up to the first occurrence and finishes with `stop`: the model was
done saying something new, and `length` would invite a /continue that only repeats more.

`n` (1..8) is generated one choice after the other (llama.cpp's server takes n=1); with a
seed, choice i uses seed + i.

`import talkline.backends.local.backend` is cheap and works without xllamacpp installed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ...errors import ConfigError, NotFoundError, TalklineError
from ...settings import LOCAL_MODEL
from ...types import ChatDelta, ChatResponse
from ...wire.accumulate import StreamAccumulator as StreamAccumulator
from ..base import ChatRequest
from ..remote import AsyncRemoteBackend, RemoteBackend
from . import server as local_server
from .files import find_default_model, install_default_model
from .requests import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_REPEAT_PENALTY,
    MAX_LOCAL_N,
    Choice,
    choice_requests,
    count_usage,
    echoed,
    guarded,
    tokenize,
    usage_delta,
)
from .server import LOCAL_EXTRA_MESSAGE, LocalServer, default_threads

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL_DISPLAY_NAME",
    "DEFAULT_REPEAT_PENALTY",
    "DEFAULT_SYSTEM_PROMPT",
    "LOCAL_EXTRA_MESSAGE",
    "LOCAL_MODEL_NAME",
    "MAX_LOCAL_N",
    "AsyncLocalBackend",
    "LocalBackend",
    "LocalModelSpec",
    "default_model_spec",
    "default_threads",
    "find_default_model",
    "spec_for",
]

LOCAL_MODEL_NAME = LOCAL_MODEL
DEFAULT_MODEL_DISPLAY_NAME = "SmolLM2-135M"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and accurately."


@dataclass(frozen=True)
class LocalModelSpec:
    """A GGUF file and how to run it.

    `n_ctx`: context window (default: the model's training context, at most 8192).
    `chat_format`: kept for config compatibility; llama.cpp uses the GGUF's own template.
    `n_threads`: CPU threads (default: every usable CPU, or TALKLINE_LOCAL_THREADS).
    `default_system_prompt`: sent first when a request has no system/developer message
    (None or "" to send nothing).
    """

    name: str
    path: Path
    n_ctx: int | None = None
    chat_format: str | None = None
    n_threads: int | None = None
    display_name: str | None = None
    default_system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    installable: bool = False  # the default model: installed on first use when missing

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("a local model needs a name")
        object.__setattr__(self, "path", Path(os.path.expanduser(str(self.path))))
        for knob in ("n_ctx", "n_threads"):
            value = getattr(self, knob)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(
                    f"local model {self.name!r}: {knob} must be a positive whole number, "
                    f"got {value!r}"
                )

    @property
    def model_id(self) -> str:
        """What responses report as `model`: the file name without `.gguf`."""
        name = self.path.name
        return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name

    @property
    def label(self) -> str:
        return self.display_name or self.name


def default_model_spec() -> LocalModelSpec:
    """The spec behind `local` when config.toml names none: SmolLM2 (installed or not)."""
    from .files import default_model_path as default_model_path

    return LocalModelSpec(LOCAL_MODEL_NAME, default_model_path(),
                          display_name=DEFAULT_MODEL_DISPLAY_NAME, installable=True)


def spec_for(name: str, conf: Mapping[str, Any]) -> LocalModelSpec:
    """The spec of the local model `name`: config.toml's `[models.NAME]` table (`conf`),
    or the default model when it gives no path."""
    if conf.get("path") is None:
        return default_model_spec()  # installed on first use if need be
    return LocalModelSpec(name=name, path=Path(str(conf["path"])).expanduser(),
                          n_ctx=conf.get("n_ctx"), chat_format=conf.get("chat_format"),
                          n_threads=conf.get("n_threads"))


def _missing_file_error(spec: LocalModelSpec) -> ConfigError:
    return ConfigError(
        f"The local model {spec.name!r} has no GGUF file (no file at {spec.path}).",
        hint=f'Set [models.{spec.name}] path = "/path/to/model.gguf" in config.toml '
        "to a GGUF file that exists.",
    )


def _ensure_file(spec: LocalModelSpec) -> None:
    """The default model is installed on first use (progress on stderr)."""
    if spec.path.is_file():
        return
    if not spec.installable:
        raise _missing_file_error(spec)
    import sys

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    say("The embedded model is not installed yet: installing it (once per environment).")
    install_default_model(say, folder=spec.path.parent)


def _server(spec: LocalModelSpec) -> LocalServer:
    _ensure_file(spec)
    return local_server.server_for(spec.path.resolve(), spec.model_id, n_ctx=spec.n_ctx,
                                   threads=spec.n_threads or default_threads(),
                                   name=spec.name)


# ---------------------------------------------------------------- backends


class _Base:
    name = LOCAL_MODEL_NAME

    def __init__(self, spec: LocalModelSpec | None = None) -> None:
        self._spec = spec
        self._closed = False

    def _resolve(self, model: str) -> LocalModelSpec:
        if self._spec is not None and model in ("", self._spec.name):
            return self._spec
        if model in ("", LOCAL_MODEL_NAME):
            return default_model_spec()
        raise NotFoundError(
            f"There is no local model named {model!r}.", status=404, code="model_not_found",
            hint=f"Local models: {', '.join(self._names())}.",
        )

    def _names(self) -> list[str]:
        names = [LOCAL_MODEL_NAME]
        if self._spec is not None:
            names.append(self._spec.name)
        return list(dict.fromkeys(names))

    @property
    def spec(self) -> LocalModelSpec:
        return self._resolve("")

    def server(self, model: str = "") -> LocalServer:
        """The model's running server, started (and the model installed) if need be."""
        if self._closed:
            raise TalklineError("This local backend is closed.")
        return _server(self._resolve(model))

    @property
    def context_window(self) -> int:
        """The default model's context window in tokens (starts its server if need be)."""
        return self.server().n_ctx

    def tokenize(self, text: str, model: str = "") -> list[int]:
        """The model's own tokens for `text` (no special tokens added)."""
        return tokenize(self.server(model), text)


class LocalBackend(_Base):
    """The sync `Backend`: the embedded server through `RemoteBackend`."""

    def __init__(self, spec: LocalModelSpec | None = None) -> None:
        super().__init__(spec)
        self._wires: dict[str, RemoteBackend] = {}

    def _wire(self, server: LocalServer) -> RemoteBackend:
        wire = self._wires.get(server.base_url)
        if wire is None:
            wire = self._wires[server.base_url] = RemoteBackend(server.base_url,
                                                                server.api_key)
        return wire

    def load(self, model: str = "") -> LocalServer:
        """Start the model's server now (else the first request does)."""
        return self.server(model)

    def models(self) -> list[str]:
        return self._names()

    def complete(self, request: ChatRequest) -> ChatResponse:
        acc = StreamAccumulator()
        deltas = self.stream(request)
        try:
            for delta in deltas:
                acc.add(delta)
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()
        return acc.response()

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        spec = self._resolve(request.model)
        requests = choice_requests(request, spec.model_id, spec.default_system_prompt)
        server = self.server(request.model)  # errors here, before the generator starts
        return self._generate(server, requests, guarded(request))

    def _generate(self, server: LocalServer, requests: list[ChatRequest],
                  guarded: bool) -> Iterator[ChatDelta]:
        wire = self._wire(server)
        choices: list[Choice] = []
        for index, one in enumerate(requests):
            choice = Choice(index, guarded, echoed(one))
            choices.append(choice)
            deltas = cast(Generator[ChatDelta, None, None], wire.stream(one))
            try:
                for delta in deltas:
                    yield from choice.take(delta)
                    if choice.stopped:
                        break
            finally:
                deltas.close()  # a stopped choice: closing the connection ends generation
            if choice.stopped:
                count_usage(server, one, choice)
        yield usage_delta(choices, None)

    def close(self) -> None:
        """Close the HTTP connections; the server is shared and stops at exit."""
        self._closed = True
        for wire in self._wires.values():
            wire.close()
        self._wires.clear()


class AsyncLocalBackend(_Base):
    """The `AsyncBackend` twin, through `AsyncRemoteBackend`; the server starts in a
    worker thread (loading reads ~100 MB)."""

    def __init__(self, spec: LocalModelSpec | None = None) -> None:
        super().__init__(spec)
        self._wires: dict[str, AsyncRemoteBackend] = {}

    def _wire(self, server: LocalServer) -> AsyncRemoteBackend:
        wire = self._wires.get(server.base_url)
        if wire is None:
            wire = self._wires[server.base_url] = AsyncRemoteBackend(server.base_url,
                                                                     server.api_key)
        return wire

    async def load(self, model: str = "") -> LocalServer:
        import asyncio

        return await asyncio.to_thread(self.server, model)

    async def models(self) -> list[str]:
        return self._names()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        acc = StreamAccumulator()
        async for delta in self.stream(request):
            acc.add(delta)
        return acc.response()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        import asyncio

        spec = self._resolve(request.model)
        requests = choice_requests(request, spec.model_id, spec.default_system_prompt)
        server = await asyncio.to_thread(self.server, request.model)
        watch = guarded(request)
        wire = self._wire(server)
        choices: list[Choice] = []
        for index, one in enumerate(requests):
            choice = Choice(index, watch, echoed(one))
            choices.append(choice)
            deltas = cast(AsyncGenerator[ChatDelta, None], wire.stream(one))
            try:
                async for delta in deltas:
                    for out in choice.take(delta):
                        yield out
                    if choice.stopped:
                        break
            finally:
                await deltas.aclose()
            if choice.stopped:
                await asyncio.to_thread(count_usage, server, one, choice)
        yield usage_delta(choices, None)

    async def aclose(self) -> None:
        self._closed = True
        for wire in self._wires.values():
            await wire.aclose()
        self._wires.clear()
