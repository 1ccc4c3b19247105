"""``python -m talkline.testing --port 0 --rpm 3000 --tpm 1000000 --latency 0.2``

Runs the scripted server (default replies echo the last user message), prints its base URL
on stdout, and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import ScriptedServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m talkline.testing",
        description="Run the scripted OpenAI-compatible test server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=float, default=None, help="tokens per minute limit")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--require-key", default=None, help="only accept this API key")
    parser.add_argument("--batch-step-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ScriptedServer(
        rpm=args.rpm,
        tpm=args.tpm,
        latency=args.latency,
        model=args.model,
        host=args.host,
        port=args.port,
        require_key=args.require_key,
    )
    server.batch_step_seconds = args.batch_step_seconds
    server.start()
    try:
        print(server.url, flush=True)
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
