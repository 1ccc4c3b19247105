"""Benchmark the embedded model: talkline's LocalBackend.stream vs xllamacpp driven directly.

    python bench/bench_local.py [--runs 3] [--max-tokens 200] [--threads N]

Each run of each variant is a fresh subprocess (so load time and peak RSS are measured
alike); runs alternate between the variants. Both start llama.cpp's embedded server on
the same GGUF with the same n_ctx and threads, and send the same prompt, seed, greedy
decoding and max_tokens (repeat_penalty 1.0 both, ignore_eos so both make max_tokens):
"talkline" goes through LocalBackend (the HTTP wire, SSE decoding, the repeat guard);
"direct" calls `Server.handle_chat_completions` in-process with a streaming callback.
tokens/s is completion tokens over the time from request to last token. Figures are
medians; other processes' load skews everything: the load average is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SYSTEM = "You are a helpful assistant. Answer briefly and accurately."
PROMPT = "Write a long story about a dragon who learns to bake bread."
SEED = 1234
N_CTX = 8192
VARIANTS = ("talkline", "direct")


def _model() -> Path:
    from talkline.backends.local.files import find_default_model

    path = find_default_model()
    if path is None:
        sys.exit("The embedded model is not installed: talkline local install")
    return path


def worker(variant: str, max_tokens: int, threads: int) -> dict[str, Any]:
    import resource

    path = _model()
    result: dict[str, Any] = {"variant": variant}
    body = {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens, "temperature": 0, "seed": SEED,
            "repeat_penalty": 1.0, "ignore_eos": True}
    first: float | None = None
    tokens = 0
    if variant == "talkline":
        from talkline.backends.base import ChatRequest
        from talkline.backends.local.backend import LocalBackend, LocalModelSpec
        from talkline.types import ChatParams, Message

        backend = LocalBackend(LocalModelSpec("bench", path, n_ctx=N_CTX, n_threads=threads))
        started = time.perf_counter()
        backend.load("bench")
        result["load_s"] = time.perf_counter() - started
        request = ChatRequest(
            messages=(Message("system", SYSTEM), Message("user", PROMPT)),
            params=ChatParams(model="bench", max_tokens=max_tokens, temperature=0, seed=SEED,
                              extra_body={"repeat_penalty": 1.0, "ignore_eos": True}),
        )
        t0 = time.perf_counter()
        for delta in backend.stream(request):
            if delta.content and first is None:
                first = time.perf_counter()
            if delta.usage is not None:
                tokens = delta.usage.completion_tokens
        end = time.perf_counter()
    else:
        import xllamacpp as xl

        params = xl.CommonParams()
        params.model.path = str(path)
        params.n_ctx = N_CTX
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
        params.n_parallel = 1
        params.port = 0
        params.verbosity = -1
        started = time.perf_counter()
        server = xl.Server(params)
        result["load_s"] = time.perf_counter() - started
        t0 = time.perf_counter()
        counts = {"n": 0}
        marks: list[float] = []

        def on_chunk(chunk: Any) -> None:
            data = json.loads(chunk) if isinstance(chunk, (str, bytes)) else chunk
            for choice in data.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    counts["n"] += 1
                    if not marks:
                        marks.append(time.perf_counter())
            if data.get("usage"):
                counts["usage"] = data["usage"]["completion_tokens"]

        server.handle_chat_completions({**body, "stream": True,
                                        "stream_options": {"include_usage": True}},
                                       on_chunk)
        end = time.perf_counter()
        first = marks[0] if marks else None
        tokens = counts.get("usage", counts["n"])
    result["tokens"] = tokens
    result["ttft_s"] = (first - t0) if first else None
    result["tok_per_s"] = tokens / (end - t0) if end > t0 else 0.0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--worker", choices=VARIANTS)
    args = parser.parse_args()
    from talkline.backends.local.server import default_threads

    threads = args.threads or default_threads()
    if args.worker:
        print(json.dumps(worker(args.worker, args.max_tokens, threads)))
        return
    print(f"load average: {os.getloadavg()}; threads={threads}; max_tokens={args.max_tokens}")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(args.runs):
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", variant, "--max-tokens",
                 str(args.max_tokens), "--threads", str(threads)],
                capture_output=True, text=True, check=True)
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'variant':<10} {'tokens':>6} {'tok/s':>7} {'ttft ms':>8} {'load s':>7} "
          f"{'peak MB':>8}")
    med: dict[str, float] = {}
    for variant, runs in results.items():
        def m(key: str, rs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] or 0.0 for r in rs)

        med[variant] = m("tok_per_s")
        print(f"{variant:<10} {m('tokens'):>6.0f} {m('tok_per_s'):>7.1f} "
              f"{m('ttft_s') * 1000:>8.0f} {m('load_s'):>7.2f} {m('peak_rss_mb'):>8.0f}")
    print(f"talkline / direct tokens per second: {med['talkline'] / med['direct']:.1%}")


if __name__ == "__main__":
    main()
