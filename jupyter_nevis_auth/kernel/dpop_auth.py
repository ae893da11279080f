"""DPoP in kernels: the headers of a request with a DPoP-bound token, and the nonce retry.

The key comes with the token over the kernel-secret channel and stays in this process's
memory (on the Token, whose repr shows nothing); a new proof is made for every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..protocol import DEFAULT_MIN_TTL
from .api import selection_for_url, token_for
from .selection import select
from .token import Token

if TYPE_CHECKING:
    from ..dpop import Nonces

#: The header of an API's DPoP nonce (RFC 9449 9); dpop.NONCE_HEADER, without importing it.
NONCE_HEADER = "DPoP-Nonce"

#: Each API's last DPoP nonce (by origin), sent in the next proof to it.
_nonces: Nonces | None = None


def _nonce_cache() -> Nonces:
    # dpop.py loads cryptography: only kernels that get a DPoP-bound token pay for it.
    global _nonces
    if _nonces is None:
        from ..dpop import Nonces

        _nonces = Nonces()
    return _nonces


def auth_headers(token: Token, method: str, url: str) -> dict[str, str]:
    """Authorization (and with a DPoP-bound token, a new DPoP proof) for one request."""
    key = token.dpop
    if key is None:
        return {"Authorization": f"Bearer {token}"}
    proof = key.proof(method, url, access_token=str(token), nonce=_nonce_cache().get(url))
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def wants_nonce(token: Token, url: str, status: int, headers: Mapping[str, str]) -> bool:
    """Whether the API asked for its DPoP nonce (kept for the retry and later requests)."""
    if token.dpop is None:
        return False
    from ..dpop import asks_for_nonce

    nonces = _nonce_cache()
    if asks_for_nonce(status, headers):
        nonces.remember(url, headers)
        return True
    # RFC 9449 8.2: a server may hand out its next nonce with any answer.
    nonces.remember(url, headers)
    return False


def sent_token(authorization: str) -> str | None:
    """The token of an Authorization header this package set (Bearer or DPoP), else None."""
    for scheme in ("Bearer ", "DPoP "):
        if authorization.startswith(scheme):
            return authorization.removeprefix(scheme)
    return None


def dpop_headers(
    method: str,
    url: str,
    min_ttl: float = DEFAULT_MIN_TTL,
    *,
    api: str | None = None,
    scopes: str | Iterable[str] | None = None,
    resource: str | None = None,
    audience: str | None = None,
    provider: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that authorize one request to `url` with any HTTP library.

    With a DPoP-bound token: `Authorization: DPoP <token>` and a proof made for this method
    and URL (make new headers for every request); with a bearer token: Authorization alone.
    The token is chosen as BearerAuth chooses it. `nonce`: the API's `DPoP-Nonce` header
    (its 401 `use_dpop_nonce` asks for it); it goes into this proof and the next proofs to
    the same origin, until the API gives another.
    """
    selection = select(api, scopes, resource, audience, provider) or selection_for_url(url)
    token = token_for(selection, min_ttl)
    if nonce and token.dpop is not None:
        _nonce_cache().remember(url, {NONCE_HEADER: nonce})
    return auth_headers(token, method, url)
