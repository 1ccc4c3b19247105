"""ConversationStore at scale: 100,000 conversations, 1,000,000 messages.

Run: python bench/bench_store.py [--conversations 100000] [--messages 1000000] [--runs 20]

Builds the database in a temporary folder (one transaction of `executemany` inserts, the
store's own FTS triggers indexing as they would in real use), then prints the median of
`--runs` calls for: search of a rare and of a common term, loading a 500-turn (1,000
message) conversation with `messages()`, `list_conversations(limit=20)`, after 2,000 more
messages were appended through the store one commit at a time (their latency is printed).
The first call of each is shown too. Targets: search < 50 ms, load < 20 ms, list < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from talkline.store import ConversationStore, new_id  # noqa: E402

TARGETS = {"search": 0.050, "load": 0.020, "list": 0.100}
RARE = "xylophonequartz"
COMMON = "the"
BIG_TURNS = 500
APPENDS = 2000
STOPWORDS = "the of and to a in is that it for you with on as are this be can".split()


def vocabulary(size: int, rng: random.Random) -> tuple[list[str], list[float]]:
    """Stop words, then pseudo-words; Zipf-like cumulative weights."""
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["qu", "th", "sh"]
    words = list(STOPWORDS)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    cumulative, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return words, cumulative


def build(path: Path, n_conversations: int, n_messages: int, seed: int = 7) -> tuple[str, int, str]:
    """Fill the database; return the 500-turn conversation's id, the message count, and
    a frequent word that the stop words (and so the later appends) do not include."""
    rng = random.Random(seed)
    ConversationStore(path).close()  # the schema, exactly as the store makes it
    words, weights = vocabulary(20_000, rng)
    year = 365 * 86400.0
    start = time.time() - 2 * year

    # Conversation lengths (even: user + assistant), the first one the long one.
    lengths = [2 * BIG_TURNS]
    rest = n_messages - lengths[0]
    for i in range(n_conversations - 1):
        left = n_conversations - 1 - i
        lengths.append(max(2, min(rest - 2 * (left - 1), 2 * rng.randint(1, 9))))
        rest -= lengths[-1]
    lengths[-1] += max(rest, 0)
    starts = sorted(start + rng.random() * 2 * year for _ in range(n_conversations))
    big = rng.randrange(n_conversations // 4, n_conversations // 2)  # somewhere in the middle
    lengths[0], lengths[big] = lengths[big], lengths[0]
    ids = [new_id(t) for t in starts]

    # Every message's time: a turn every few minutes; the long one spread over months.
    events: list[tuple[float, int, int]] = []
    for c, (t, k) in enumerate(zip(starts, lengths, strict=True)):
        gap = 4 * 3600.0 if k > 100 else 90.0
        events.extend((t + j * gap + rng.random(), c, j) for j in range(k))
    events.sort()
    rare_at = set(rng.sample(range(len(events)), 40))

    def rows() -> Iterator[tuple[Any, ...]]:
        last: dict[int, int] = {}
        for i, (created, c, position) in enumerate(events, 1):
            user = position % 2 == 0
            n = rng.randint(5, 25) if user else rng.randint(20, 90)
            text = " ".join(rng.choices(words, cum_weights=weights, k=n))
            if i - 1 in rare_at:
                text += f" {RARE}"
            parent = last.get(c)
            last[c] = i
            usage = (
                (None, None, None)
                if user
                else (rng.randint(50, 4000), n * 2, round(rng.random() / 100, 6))
            )
            yield (
                i,
                ids[c],
                parent,
                position,
                "user" if user else "assistant",
                text,
                None if user else "gpt-4o-mini",
                *usage,
                created,
            )

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # building only; the store keeps NORMAL
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO conversations (id, created, updated, model) VALUES (?, ?, ?, 'gpt-4o-mini')",
        ((ids[c], t, t) for c, t in enumerate(starts)),
    )
    conn.executemany(
        "INSERT INTO messages (id, conversation_id, parent_id, position, role, content, model, "
        "prompt_tokens, completion_tokens, cost, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows(),
    )
    # The counters append_message keeps, computed once for the whole set.
    conn.execute(
        """UPDATE conversations SET head_message_id = agg.head, updated = agg.updated,
        turns = agg.turns, prompt_tokens = agg.pt, completion_tokens = agg.ct, cost = agg.cost
        FROM (SELECT conversation_id, max(id) AS head, max(created) AS updated,
              sum(role = 'user') AS turns, coalesce(sum(prompt_tokens), 0) AS pt,
              coalesce(sum(completion_tokens), 0) AS ct, coalesce(sum(cost), 0) AS cost
              FROM messages GROUP BY conversation_id) AS agg
        WHERE conversations.id = agg.conversation_id"""
    )
    title_rows = conn.execute(
        "SELECT conversation_id, content FROM messages WHERE position = 0"
    ).fetchall()
    conn.executemany(
        "UPDATE conversations SET title = ? WHERE id = ?",
        ((text[:60], cid) for cid, text in title_rows),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return ids[big], len(events), words[len(STOPWORDS)]


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(first call, median of the following `runs` calls), in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}")

    folder = Path(tempfile.mkdtemp(prefix="talkline-bench-store-"))
    try:
        db = folder / "talkline.db"
        t = time.perf_counter()
        big, n_messages, frequent = build(db, args.conversations, args.messages)
        built = time.perf_counter() - t
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(
            f"built {args.conversations:,} conversations, {n_messages:,} messages "
            f"in {built:.0f} s; database {size / 2**20:.0f} MiB"
        )
        with ConversationStore(db) as store:
            assert len(store.messages(big)) == 2 * BIG_TURNS
            # Then as in real use: one commit per message, which leaves the full-text
            # index in many small segments for FTS5 to merge as it goes.
            appends = []
            rng = random.Random(1)
            for _ in range(APPENDS // 20):
                conv = store.create_conversation(model="gpt-4o-mini")
                for i in range(20):
                    text = " ".join(rng.choices(STOPWORDS, k=30)) + f" live{i}"
                    t = time.perf_counter()
                    store.append_message(conv.id, ("user", "assistant")[i % 2], text)
                    appends.append(time.perf_counter() - t)
            print(
                f"append_message, {APPENDS:,} more, one commit each: median "
                f"{statistics.median(appends) * 1000:.2f} ms, "
                f"max {max(appends) * 1000:.1f} ms"
            )
            cases: list[tuple[str, str, Callable[[], object]]] = [
                ("search", f"search rare term ({RARE!r})", lambda: store.search(RARE)),
                ("search", f"search common term ({COMMON!r})", lambda: store.search(COMMON)),
                ("search", "search two common terms", lambda: store.search("the and")),
                (
                    "search",
                    f"search frequent older term ({frequent!r})",
                    lambda: store.search(frequent),
                ),
                (
                    "load",
                    f"messages() of a {BIG_TURNS}-turn conversation",
                    lambda: store.messages(big),
                ),
                ("list", "list_conversations(limit=20)", lambda: store.list_conversations()),
                (
                    "list",
                    "get_conversation(14-char prefix)",
                    lambda: store.get_conversation(big[:14]),
                ),
            ]
            print(f"\n{'operation':48} {'first':>9} {'median':>9}  target")
            for kind, label, fn in cases:
                first, median = timed(fn, args.runs)
                verdict = "ok" if median < TARGETS[kind] else "SLOW"
                print(
                    f"{label:48} {first * 1000:7.2f}ms {median * 1000:7.2f}ms  "
                    f"< {TARGETS[kind] * 1000:.0f} ms {verdict}"
                )
            hits = store.search(RARE)
            print(f"\nrare term: {len(hits)} hits, e.g. {hits[0].snippet!r}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
