"""Trust in the server's TLS certificate: exactly the one the server named, by fingerprint."""

from __future__ import annotations

import hashlib
import re
import ssl
from typing import Any

from requests.adapters import HTTPAdapter

from ..errors import NotConfiguredError
from ..protocol import ENV_CA


class PinnedCertAdapter(HTTPAdapter):
    """Trusts exactly the server's own certificate, whatever host name it was issued for."""

    def __init__(self, fingerprint: str) -> None:
        """Accept only the certificate whose SHA-256 is `fingerprint` (hex)."""
        self._fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pin the certificate on every connection pool."""
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)


def cert_fingerprint(path: str) -> str:
    """SHA-256 of the first certificate in the PEM file `path`."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            pem = f.read()
    except OSError as e:
        raise NotConfiguredError(
            f"The Jupyter server's certificate {path} (named by {ENV_CA}) cannot be read "
            f"({e.strerror}); restart the kernel, or fix {ENV_CA}."
        ) from e
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        raise NotConfiguredError(
            f"{path} (named by {ENV_CA}) holds no PEM certificate; fix {ENV_CA}."
        )
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(match.group(0))).hexdigest()
