"""Loaded by subprocesses of the offline tests: refuse every connection that is not to
loopback, so a test proves talkline needs no network (used where `unshare -n` is not
available; where it is, the network namespace has no route out at all)."""

import ipaddress
import os
import socket

_connect = socket.socket.connect


def _guarded(self, address):  # type: ignore[no-untyped-def]
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(101, f"network blocked by the offline test: {host}")
    return _connect(self, address)


socket.socket.connect = _guarded  # type: ignore[method-assign]

if os.environ.get("TALKLINE_TEST_BLOCK_XLLAMACPP"):
    import sys

    sys.modules["xllamacpp"] = None  # type: ignore[assignment]
