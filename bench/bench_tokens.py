"""Token counting and context fitting on a 500-turn conversation.

Run: python bench/bench_tokens.py [--runs 21] [--model gpt-4o]
Prints medians of: loading the encoding (once per process), counting the conversation with
an empty cache, counting it again (cached), counting it after one more turn (incremental),
and fitting it into a window that forces truncation (warm). Target: fitting < 20 ms warm.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from talkline.planning.context import fit_to_context  # noqa: E402
from talkline.planning.tokens import TokenCounter, get_encoding  # noqa: E402
from talkline.types import Message  # noqa: E402

WORDS = (
    "the model answers questions about code context windows tokens and prices while "
    "keeping every tool call next to its result so that nothing is split apart def return "
    "import class self async await 1234 56.78 — café naïve 東京 😀"
).split()


def conversation(turns: int, seed: int = 7) -> list[Message]:
    rng = random.Random(seed)
    msgs = [Message("system", "You are a helpful assistant. Answer briefly.")]
    for i in range(turns):
        msgs.append(Message("user", f"({i}) " + " ".join(rng.choices(WORDS, k=rng.randint(
            10, 120)))))
        msgs.append(Message("assistant", " ".join(rng.choices(WORDS, k=rng.randint(30, 400)))))
    return msgs


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--turns", type=int, default=500)
    ap.add_argument("--model", default="gpt-4o")
    args = ap.parse_args()

    start = time.perf_counter()
    from talkline.planning.tokens import encoding_for_model

    name = encoding_for_model(args.model)
    if name:
        get_encoding(name)
    load_ms = (time.perf_counter() - start) * 1000

    msgs = conversation(args.turns)
    chars = sum(len(m.text) for m in msgs)
    total = TokenCounter().count_messages(msgs, args.model)
    cold = median_ms(lambda: TokenCounter().count_messages(msgs, args.model), args.runs)

    counter = TokenCounter()
    counter.count_messages(msgs, args.model)
    warm = median_ms(lambda: counter.count_messages(msgs, args.model), args.runs)

    extra = [Message("user", "one more question " * 20), Message("assistant", "answer " * 50)]
    grown = msgs + extra

    def incremental() -> None:
        c = TokenCounter()
        c.count_messages(msgs, args.model)
        start = time.perf_counter()
        c.count_messages(grown, args.model)
        incremental_times.append(time.perf_counter() - start)

    incremental_times: list[float] = []
    for _ in range(min(args.runs, 5)):
        incremental()
    incr = statistics.median(incremental_times) * 1000

    window = total.tokens // 4
    result = fit_to_context(msgs, model=args.model, context_window=window, max_output=4096,
                            counter=counter)
    fit = median_ms(lambda: fit_to_context(msgs, model=args.model, context_window=window,
                                           max_output=4096, counter=counter), args.runs)

    print(f"conversation: {args.turns} turns, {len(msgs)} messages, {chars:,} characters, "
          f"{total.tokens:,} tokens ({'exact' if total.exact else 'estimate'}, {args.model})")
    print(f"load encoding (once per process)    {load_ms:8.1f} ms")
    print(f"count, cold cache                   {cold:8.1f} ms")
    print(f"count, warm cache                   {warm:8.2f} ms")
    print(f"count after one more turn           {incr:8.2f} ms")
    print(f"fit into {window:,} tokens (warm)      {fit:8.2f} ms   "
          f"(dropped {result.dropped} messages; target < 20 ms: "
          f"{'met' if fit < 20 else 'MISSED'})")


if __name__ == "__main__":
    main()
