"""Whether a request would carry the key in clear text to another machine (pure: a function
of the URL and whether there is a key, decided before anything is sent)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback", "plain_http_warning"]


def is_loopback(host: str) -> bool:
    """`localhost` and its subdomains, 127.0.0.0/8 and ::1: traffic that never leaves the
    machine."""
    host = host.rstrip(".").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_warning(base_url: str, api_key: str | None) -> str | None:
    """The warning for a key sent over plain http:// to a host that is not this machine;
    None when there is no key, the scheme is https, or the host is a loopback address."""
    if not api_key:
        return None
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or not host or is_loopback(host):
        return None
    shown = "".join(c for c in host if c.isprintable())
    return (
        f"Warning: sending the API key over plain http:// to {shown}: "
        "it travels in clear text. Use https:// for remote servers."
    )
