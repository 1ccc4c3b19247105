"""STAND-IN for the KEYS part of issue #16 (gateway keys, budgets per key): the names the
gateway calls, with the least behaviour that is true. The KEYS branch replaces this file.

Until then no gateway key exists, so with auth on every request is refused (401), and
with `--no-auth` (loopback only) every request is the built-in owner's, which has no
budget to check.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

__all__ = ["OWNER", "GatewayKey", "authenticate", "check_budget"]


@dataclass(frozen=True)
class GatewayKey:
    id: str
    name: str
    daily_budget: float | None = None
    monthly_budget: float | None = None
    created: float = 0.0


OWNER = GatewayKey(id="owner", name="owner")


def authenticate(request: Request) -> GatewayKey | None:
    """The key the request carries (`Authorization: Bearer ...`), or None."""
    if request.app.state.config.no_auth:
        return OWNER
    return None


def check_budget(key: GatewayKey, estimated_cost: float | None) -> None:
    """Raise `BudgetExceededError` when `key` may not spend `estimated_cost` more. The
    owner has no budget."""
    return None
