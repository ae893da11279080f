"""The tokens notebooks get: strings whose repr never shows the value."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..dpop import DPoPKey


class Token(str):
    """A token whose repr is redacted, so it never lands in a notebook's saved output.

    `str(token)`, f-strings and HTTP headers use the real value.
    """

    kind: str
    expires_at: float | None
    #: The key a DPoP-bound token is bound to (proofs are made with it), None for bearer.
    dpop: DPoPKey | None = None

    def __new__(
        cls, value: str, kind: str = "access token", expires_at: float | None = None
    ) -> Token:
        """Wrap `value`; `expires_at` is a Unix time, or None when unknown."""
        token = super().__new__(cls, value)
        token.kind = kind
        token.expires_at = expires_at
        return token

    def __repr__(self) -> str:
        if self.expires_at is None:
            return f"<{self.kind}>"
        left = int(self.expires_at - time.time())
        return f"<{self.kind}, expires in {left} s>" if left > 0 else f"<{self.kind}, expired>"
