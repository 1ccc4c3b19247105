"""Streaming markdown: CPU cost per 1,000 tokens at the start and at the end of a long reply.

Run: python bench/bench_render.py [--tokens 20000] [--repeat 5]

A markdown reply with headings, prose, lists, tables and code blocks is streamed in
4-character deltas (one delta ~ one token), rendered for a 100x40 terminal (a rich Console
with `force_terminal=True`) and written to the null device through an ordinary file,
flushed after each write as on a TTY. Three ways to show it:

- talkline: `MarkdownStream` (finished blocks printed once, the tail redrawn at most
  20 times a second);
- rich Live: the whole reply re-parsed and re-rendered as one `Markdown` on every delta,
  like shell-gpt (`live.update(Markdown(full), refresh=True)`);
- plain: each delta sanitised and written as it comes.

Two measurements, both with `time.process_time` (CPU of this process, all threads):
1. renderer alone: a recorded list of deltas fed as fast as possible;
2. end to end: deltas from the scripted server through `Client.stream` (the server runs in
   a subprocess, so its CPU is not counted).

rich Live's cost grows with the reply, so running it to 20,000 tokens would take hours. It is
measured exactly over the first 1,000 tokens; at later points it is sampled (10 deltas at
each of 5 positions, scaled to 1,000), and its total is the integral of those samples. Its
end-to-end row adds plain's end-to-end cost (the client's share) to those. Estimates are
marked "~".
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rich.console import Console  # noqa: E402
from rich.live import Live  # noqa: E402
from rich.markdown import Markdown  # noqa: E402

from talkline.cli.output.render import MarkdownStream  # noqa: E402
from talkline.cli.output.sanitize import StreamSanitizer  # noqa: E402

WIDTH, HEIGHT = 100, 40
TOKEN_CHARS = 4


def reply(tokens: int) -> str:
    """A markdown reply of about `tokens` tokens (TOKEN_CHARS characters each)."""
    parts: list[str] = []
    size = 0
    i = 0
    while size < tokens * TOKEN_CHARS:
        i += 1
        section = (
            f"## Section {i}: streaming without re-rendering\n\n"
            f"This paragraph explains step {i} with **bold** text, *emphasis*, `inline code` "
            "and a [link](https://example.com/docs). Finished blocks are written to the "
            "scrollback once, and only the block in progress is redrawn, so the cost per "
            "token stays flat however long the reply grows.\n\n"
            "- first point, short\n- second point with `code`\n  - a nested detail\n"
            "- third point that is a little longer than the others\n\n"
            f"```python\ndef step_{i}(items: list[int]) -> int:\n"
            '    """Sum the even items."""\n'
            "    total = 0\n    for item in items:\n        if item % 2 == 0:\n"
            "            total += item\n    return total\n```\n\n"
            "| name | value | note |\n|------|------:|------|\n"
            f"| alpha | {i} | first |\n| beta | {i * 2} | second |\n\n"
            f"1. run `step_{i}`\n2. check the result\n3. move on\n\n"
        )
        parts.append(section)
        size += len(section)
    return "".join(parts)[: tokens * TOKEN_CHARS]


def deltas_of(text: str) -> list[str]:
    return [text[i : i + TOKEN_CHARS] for i in range(0, len(text), TOKEN_CHARS)]


def output_file() -> io.TextIOWrapper:
    """Where output goes: a real file (the null device), flushed after every write as the
    Terminal flushes on a TTY, so each way pays for its system calls."""
    return open(os.devnull, "w", encoding="utf-8")


def terminal_console() -> Console:
    return Console(
        file=output_file(),
        force_terminal=True,
        width=WIDTH,
        height=HEIGHT,
        color_system="truecolor",
    )


# -- the three ways to show a reply; each returns a per-delta callable and a closer


def talkline_sink() -> tuple[Callable[[str], None], Callable[[], None]]:
    stream = MarkdownStream(terminal_console())
    return stream.feed, stream.finish


def plain_sink() -> tuple[Callable[[str], None], Callable[[], None]]:
    out = output_file()
    clean = StreamSanitizer()

    def feed(delta: str) -> None:
        out.write(clean.feed(delta))
        out.flush()

    return feed, lambda: out.write(clean.flush() + "\n")


def live_sink(prefix: str = "") -> tuple[Callable[[str], None], Callable[[], None]]:
    live = Live(console=terminal_console(), refresh_per_second=8, vertical_overflow="visible")
    live.start()
    full = [prefix]

    def feed(delta: str) -> None:
        full[0] += delta
        live.update(Markdown(full[0]), refresh=True)

    return feed, live.stop


# -- measuring


def timed_run(
    deltas: Iterable[str], feed: Callable[[str], None], close: Callable[[], None]
) -> tuple[float, list[float]]:
    """Total CPU seconds, and CPU seconds at every 1,000th delta."""
    marks = [time.process_time()]
    start = marks[0]
    for n, delta in enumerate(deltas, 1):
        feed(delta)
        if n % 1000 == 0:
            marks.append(time.process_time())
    close()
    end = time.process_time()
    marks.append(end)
    return end - start, marks


def per_1k(marks: list[float]) -> tuple[float, float]:
    """CPU ms for the first and the last full 1,000 deltas."""
    return (marks[1] - marks[0]) * 1e3, (marks[-2] - marks[-3]) * 1e3


def live_estimate(
    deltas: list[str], sample: int = 10, points: int = 5
) -> tuple[float, float, float]:
    """rich Live: exact first 1,000; sampled cost at later positions; integrated total."""
    feed, close = live_sink()
    t0 = time.process_time()
    for delta in deltas[:1000]:
        feed(delta)
    first = (time.process_time() - t0) * 1e3
    close()
    n = len(deltas)
    positions = [int(n * k / points) for k in range(1, points + 1)]
    per_delta = {0: first / 1000}
    for pos in positions:
        start = max(0, pos - sample)
        feed, close = live_sink("".join(deltas[:start]))
        t0 = time.process_time()
        for delta in deltas[start:pos]:
            feed(delta)
        per_delta[pos] = (time.process_time() - t0) * 1e3 / max(1, pos - start)
        close()
    xs = sorted(per_delta)
    total = sum(
        (xs[i + 1] - xs[i]) * (per_delta[xs[i]] + per_delta[xs[i + 1]]) / 2
        for i in range(len(xs) - 1)
    )
    return first, per_delta[xs[-1]] * 1000, total / 1e3


def server_deltas(text: str) -> Iterator[str]:
    """Deltas from the scripted server (in a subprocess) through `Client.stream`."""
    from talkline import Client

    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp, "reply.md")
        content.write_text(text, encoding="utf-8")
        code = (
            "import sys, pathlib\n"
            "from talkline.testing import ScriptedServer, Reply\n"
            "srv = ScriptedServer().start()\n"
            f"srv.default = Reply(content=pathlib.Path({str(content)!r}).read_text('utf-8'),"
            f" chunk_size={TOKEN_CHARS})\n"
            "print(srv.url, flush=True)\n"
            "sys.stdin.read()\n"
        )
        env = dict(
            os.environ,
            PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
            TALKLINE_HOME=tmp,
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            os.environ["TALKLINE_HOME"] = tmp
            with Client(api_key="sk-bench-fake", base_url=url) as client:
                for delta in client.stream([{"role": "user", "content": "go"}]):
                    if delta.content:
                        yield delta.content
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each; the median is shown")
    args = ap.parse_args()
    text = reply(args.tokens)
    deltas = deltas_of(text)
    print(
        f"reply: {len(deltas)} deltas of {TOKEN_CHARS} chars ({len(text)} chars, "
        f"{text.count(chr(10))} lines, {text.count('```') // 2} code blocks); "
        f"terminal {WIDTH}x{HEIGHT}\n"
    )

    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, total: float, marks: list[float]) -> None:
        first, last = per_1k(marks)
        rows.append((name, f"{first:8.1f}", f"{last:8.1f}", f"{total:9.2f}"))

    def best_of(run: Callable[[], tuple[float, list[float]]]) -> tuple[float, list[float]]:
        """The median run by total CPU (the machine may be busy)."""
        runs = sorted((run() for _ in range(args.repeat)), key=lambda r: r[0])
        return runs[len(runs) // 2]

    # 1. the renderer alone
    plain_total, plain_marks = best_of(lambda: timed_run(deltas, *plain_sink()))
    row("plain (renderer alone)", plain_total, plain_marks)
    ours_total, ours_marks = best_of(lambda: timed_run(deltas, *talkline_sink()))
    row("talkline (renderer alone)", ours_total, ours_marks)
    first, last, total = live_estimate(deltas)
    rows.append(("rich Live, shell-gpt style", f"{first:8.1f}", f"~{last:7.1f}", f"~{total:8.1f}"))

    # 2. end to end, from the scripted server
    e2e_plain, e2e_plain_marks = best_of(lambda: timed_run(server_deltas(text), *plain_sink()))
    row("plain (end to end)", e2e_plain, e2e_plain_marks)
    plain_first_e2e, plain_last_e2e = per_1k(e2e_plain_marks)
    e2e_ours, e2e_ours_marks = best_of(lambda: timed_run(server_deltas(text), *talkline_sink()))
    row("talkline (end to end)", e2e_ours, e2e_ours_marks)
    rows.append(
        (
            "rich Live (end to end)",
            f"~{first + plain_first_e2e:7.1f}",
            f"~{last + plain_last_e2e:7.1f}",
            f"~{total + e2e_plain:8.1f}",
        )
    )

    header = ("", "ms/1k first", "ms/1k last", "total s")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    steady = (per_1k(e2e_ours_marks)[1] / plain_last_e2e) if plain_last_e2e else float("nan")
    print(
        f"\nend to end, talkline / plain: {e2e_ours / e2e_plain:.2f}x in total, "
        f"{steady:.2f}x over the last 1,000 tokens"
    )
    for name, marks in (("renderer alone", ours_marks), ("end to end", e2e_ours_marks)):
        series = [(b - a) * 1e3 for a, b in zip(marks[:-1], marks[1:], strict=True)][
            : len(deltas) // 1000
        ]
        print(
            f"talkline {name}, ms per 1,000 tokens in order: "
            + " ".join(f"{x:.0f}" for x in series)
        )


if __name__ == "__main__":
    main()
