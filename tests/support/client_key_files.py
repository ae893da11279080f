"""Client key files for private_key_jwt, as `jupyter nevis-auth make-client-key` writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_nevis_auth.core.client_keys import parse_client_keys


def write_client_keys(path: Path, *keys: dict[str, Any]) -> dict[str, Any]:
    """Write the private JWKs `keys` to `path`, readable by its owner only; their public JWK
    Set, to register at the provider."""
    path.write_text(json.dumps({"keys": list(keys)}))
    path.chmod(0o600)
    return parse_client_keys(path.read_text(), str(path)).public_jwks()
