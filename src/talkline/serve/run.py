"""Running the gateway: the socket bound first (so `--port 0` has its real port to print),
then uvicorn on it until Ctrl-C or SIGTERM, which stop it cleanly (requests in flight
finish, the clients and the store are closed)."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Callable

import uvicorn

from ..errors import ConfigError
from .app import GatewayConfig, create_app

__all__ = ["is_loopback", "refuse_open_no_auth", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_open_no_auth(config: GatewayConfig) -> None:
    if config.no_auth and not is_loopback(config.host):
        raise ConfigError(
            f"--no-auth is refused on {config.host}: anyone who can reach it would spend "
            "your upstream keys.",
            hint="Use --no-auth only with --host 127.0.0.1 (the default), or create gateway "
                 "keys with `talkline serve keys add NAME` and leave --no-auth out.")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"talkline serve cannot listen on {host}:{port}: {exc.strerror}",
                          hint="Choose another port with --port (0: any free port), or stop "
                               "what is using this one.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(config: GatewayConfig, announce: Callable[[str], None]) -> None:
    """Serve until stopped; `announce` is told the URL once the socket listens."""
    refuse_open_no_auth(config)
    app = create_app(config)
    sock = _bind(config.host, config.port)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("talkline serve: %(message)s"))
    log = logging.getLogger("talkline.serve")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=5))
    # uvicorn stops on SIGINT/SIGTERM and then raises the signal again for the handler
    # that was there before: this one, which asks it to stop (a signal that comes before
    # uvicorn's handlers are in place included), so a stop is a clean exit (0), not a kill.

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    quiet = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    announce(url_of(sock))  # only now: a stop asked from here on is a clean one
    try:
        server.run(sockets=[sock])
    finally:
        for sig, previous in quiet.items():
            signal.signal(sig, previous)
        sock.close()
        log.removeHandler(handler)

