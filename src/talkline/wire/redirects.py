"""A redirect answer as an error. talkline never follows a redirect (the key would go
with the request to wherever it points), and a 3xx is no answer: it is an error that names
where it points, and the base URL to use if that place is trusted."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin

from ..errors import ResponseFormatError
from .redact import Redactor

__all__ = ["redirect_error"]


def redirect_error(status: int, request_url: str, headers: Mapping[str, str],
                   base_url: str, redactor: Redactor) -> ResponseFormatError:
    """The error for a 3xx answer to `request_url` (under `base_url`)."""
    location = headers.get("location", "").strip()
    target = redactor.text(urljoin(request_url, location)) if location else ""
    shown = redactor.text(request_url)
    if not target:
        message = f"{shown} answered {status}, a redirect without a Location"
        hint = "Check the base URL: talkline does not follow redirects."
    else:
        message = f"{shown} answered {status}, a redirect to {target}"
        tail = request_url[len(base_url):] if request_url.startswith(base_url) else ""
        new_base = target[: -len(tail)] if tail and target.endswith(tail) else ""
        hint = ("talkline does not follow redirects, so that the key is never sent "
                "anywhere else" + (f"; if you trust that server, use --base-url {new_base}"
                                   if new_base else "; check the base URL") + ".")
    return ResponseFormatError(message, hint=hint, status=status,
                               request_id=headers.get("x-request-id"))
