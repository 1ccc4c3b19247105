"""`talkline serve`: one OpenAI-compatible endpoint in front of every model talkline
knows, with the client core's retries, shared rate limits and fallbacks, and every
exchange stored. Needs the `serve` extra (starlette, uvicorn): only this package and the
cli import them.

The modules: `app` (the ASGI app and `GatewayConfig`), `requests` (a client's body,
checked), `upstreams` (routing and one client core per upstream), `relay` (streams),
`errors` (the OpenAI error shape), `context` (fitting, on request), `record` (the store),
`keys` (gateway keys, stored hashed), `auth` (who is asking: bearer keys, the page's
session cookie), `budgets` (per key, per UTC day and month), `cors`, `web` and `web_api`
(the chat page and its JSON API, files in `static/`), `run` (uvicorn, the bound URL,
clean stops).
"""

from __future__ import annotations
