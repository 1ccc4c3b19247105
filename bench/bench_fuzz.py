"""Fuzz the client with hostile responses for a while and report the crashes found.

A raw-socket server on 127.0.0.1 answers every request with a new random hostile
response: a valid completion or stream mutated (values of the wrong type, keys dropped,
lone surrogates, huge or negative numbers, bytes flipped, cut short, lines split, odd
framing: no Content-Length, chunked, a length that lies), random bytes, or one of
`talkline.testing.hostile`'s modes (their endless ones end after a few seconds; the huge
ones are smaller). The client (`talkline.client.Client`, no retries, a 2 s idle timeout)
asks for a completion, a stream or the model list, in turn.

A crash is any exception that is not a `talkline.errors.TalklineError`, or a call that
has not returned within the bound (a hang). A leak is the key in an error message or a
reply. Each distinct crash is printed once with the case that caused it and a count.

Run: python bench/bench_fuzz.py [--seconds 60] [--rate N] [--seed 1] [--bound 15]
(--rate: responses per second to aim for; default: as fast as the client goes.)
Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import socketserver
import threading
import time
import traceback
from collections import Counter
from typing import Any

from talkline.client import Client
from talkline.errors import TalklineError
from talkline.settings import Settings
from talkline.testing._hostile_modes import chunk, completion
from talkline.testing.hostile import MODES, Conn, read_request

KEY = "sk-test-CANARY-fuzz-5be1c0"
POOL: list[Any] = [None, True, False, 0, -1, 1e308, -1e308, 2**64, "", "x", "\ud800",
                   "0", "12", [], {}, [None], {"a": 1}, "\x1b[2J", "A" * 10_000]
SLOW_MODES = {"drip", "keepalive_forever", "headers_then_silence", "endless_body"}


def mutate_value(rng: random.Random, obj: Any, depth: int = 0) -> Any:
    """A copy of `obj` with some values replaced, keys dropped or added, lists changed."""
    if rng.random() < 0.12 or depth > 6:
        return rng.choice(POOL) if rng.random() < 0.7 else obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            r = rng.random()
            if r < 0.08:
                continue  # dropped
            out[k] = mutate_value(rng, v, depth + 1)
        if rng.random() < 0.1:
            out[rng.choice(["error", "choices", "usage", "delta", "message", "index",
                            "content", "x"])] = rng.choice(POOL)
        return out
    if isinstance(obj, list):
        items = [mutate_value(rng, v, depth + 1) for v in obj]
        if rng.random() < 0.1:
            items = items * rng.randint(0, 3)
        return items
    return obj


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if not b:
            break
        i = rng.randrange(len(b))
        if op < 0.3:
            b[i] = rng.randrange(256)
        elif op < 0.5:
            del b[i:i + rng.randint(1, 20)]
        elif op < 0.7:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.85:
            b = b[:i]  # cut short
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[min(i, j):max(i, j)][:200]
    return bytes(b)


def json_body(rng: random.Random) -> bytes:
    obj = completion(rng.choice(["Hi.", "", "x" * 50, "\ud83d\ude00 ok"]))
    if rng.random() < 0.8:
        obj = mutate_value(rng, obj)
    data = json.dumps(obj).encode()
    return mutate_bytes(rng, data) if rng.random() < 0.3 else data


def sse_body(rng: random.Random) -> bytes:
    events: list[Any] = [chunk(""), *(chunk(w) for w in ("Hello", " there", "!")),
                         chunk(None, "stop"), {"choices": [], "usage": {
                             "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}]
    out = []
    for event in events:
        if rng.random() < 0.25:
            event = mutate_value(rng, event)
        line = b"data: " + json.dumps(event).encode()
        if rng.random() < 0.05:
            line = b"event: error\n" + line
        if rng.random() < 0.05:
            out.append(b": keep-alive")
        out.append(line)
    if rng.random() < 0.8:
        out.append(b"data: [DONE]")
    sep = rng.choice([b"\n\n", b"\r\n\r\n", b"\n", b"\r\r"]) if rng.random() < 0.2 else b"\n\n"
    data = sep.join(out) + sep
    return mutate_bytes(rng, data) if rng.random() < 0.3 else data


def framed(c: Conn, rng: random.Random, data: bytes, content_type: str) -> None:
    status = rng.choice([200] * 8 + [400, 401, 404, 429, 500, 503, 302])
    how = rng.random()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
    if how < 0.6:
        c.send(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    elif how < 0.75:
        c.send(f"{head}\r\n".encode() + data)  # until the connection closes
    elif how < 0.9:
        pieces = [data[i:i + 37] for i in range(0, len(data), 37)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        if rng.random() < 0.3:
            body = mutate_bytes(rng, body)
        c.send(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + body)
    else:
        c.send(f"{head}Content-Length: {len(data) + rng.randint(-20, 500)}\r\n\r\n".encode()
               + data)


class FuzzServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rng = random.Random(seed)
        self.case = ""
        self.stop_event = threading.Event()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: FuzzServer = self.server  # type: ignore[assignment]
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            request = read_request(sock)
            if request is None:
                return
            rng = random.Random(server.rng.random())
            pick = rng.random()
            mode = rng.choice(sorted(MODES)) if pick < 0.25 else None
            size = 4 * 1024 * 1024 if mode == "huge_line" else 64 * 1024 * 1024
            conn = Conn(sock, request, server.stop_event, 3.0 if mode in SLOW_MODES else 30,
                        size)
            if mode is not None:
                server.case = f"mode {mode}"
                MODES[mode](conn)
            elif pick < 0.3:
                server.case = "random bytes"
                conn.send(bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000))))
            elif request.stream and pick < 0.85:
                server.case = "mutated stream"
                framed(conn, rng, sse_body(rng), "text/event-stream")
            else:
                server.case = "mutated JSON"
                framed(conn, rng, json_body(rng), "application/json")
        except OSError:
            pass


def one_call(client: Client, kind: int) -> Any:
    if kind == 0:
        return client.complete("hi", model="gpt-4o-mini").content
    if kind == 1:
        return "".join(d.content or "" for d in client.stream("hi", model="gpt-4o-mini"))
    return client.models()


def attempt(client: Client, kind: int, box: dict[str, Any]) -> None:
    """One call; its answer, its TalklineError or its crash put in `box`."""
    try:
        box["ok"] = one_call(client, kind)
    except TalklineError as exc:
        box["error"] = exc
    except BaseException as exc:  # a crash is what we look for
        box["crash"] = exc
        box["where"] = traceback.format_exc(limit=-3)


def run(seconds: float, rate: float | None, seed: int, bound: float) -> int:
    server = FuzzServer(seed)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings = Settings.resolve(api_key=KEY, base_url=url, retries=0, idle_timeout=2.0)
    client = Client(settings=settings, sleep=lambda s: None)
    crashes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    outcomes: Counter[str] = Counter()
    calls = hangs = leaks = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        t0 = time.monotonic()
        kind = calls % 3
        box: dict[str, Any] = {}
        worker = threading.Thread(target=attempt, args=(client, kind, box), daemon=True)
        worker.start()
        worker.join(bound)
        calls += 1
        case = server.case
        if worker.is_alive():
            hangs += 1
            crashes[f"hang > {bound:g} s"] += 1
            examples.setdefault(f"hang > {bound:g} s", case)
            continue
        text = str(box.get("error") or box.get("ok") or "")
        if KEY in text or KEY[-10:] in text:
            leaks += 1
            examples.setdefault("leak", f"{case}: {text[:200]}")
        if "crash" in box:
            exc = box["crash"]
            sig = f"{type(exc).__name__}: {str(exc)[:120]}"
            crashes[sig] += 1
            examples.setdefault(sig, f"{case} ({['complete', 'stream', 'models'][kind]})\n"
                                f"{box['where']}")
        else:
            outcomes[type(box["error"]).__name__ if "error" in box else "answer"] += 1
        if rate:
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - t0)))
    elapsed = time.monotonic() - started
    server.stop_event.set()
    server.shutdown()
    print(f"{calls} hostile responses in {elapsed:.0f} s ({calls / elapsed:.1f}/s), seed {seed}")
    print(f"crashes: {sum(crashes.values())} ({len(crashes)} distinct), hangs: {hangs}, "
          f"key leaks: {leaks}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    for sig, count in crashes.most_common():
        print(f"\n[{count}x] {sig}\n  case: {examples[sig]}")
    if leaks:
        print(f"\nleak example: {examples['leak']}")
    return 1 if crashes or leaks else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=None, help="responses per second to aim for")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bound", type=float, default=15.0, help="seconds before a call is a hang")
    args = ap.parse_args(argv)
    return run(args.seconds, args.rate, args.seed, args.bound)


if __name__ == "__main__":
    raise SystemExit(main())

