"""ID-token claims as people see them: which are shown, and what to call the user (stdlib only)."""

from __future__ import annotations

from typing import Any

#: ID-token claims that say nothing about the user and are not shown.
HIDDEN_CLAIMS = ("nonce", "at_hash", "c_hash")


def public_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The ID-token claims worth showing: who the user is, not how the token was bound."""
    return {k: v for k, v in claims.items() if k not in HIDDEN_CLAIMS}


def display_name(claims: dict[str, Any]) -> str:
    """What to call the signed-in user: name, else preferred_username, else sub."""
    for claim in ("name", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return ""
