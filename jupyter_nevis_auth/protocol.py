"""The contract between the server and its kernels: variables, header, paths and JSON names.

The server extension and the kernel API both import it, so it imports only the standard
library: loading one side never pulls in what only the other needs.
"""

from __future__ import annotations

from typing import Any, TypedDict

#: The URL of the server's token endpoint, for kernels.
ENV_URL = "NEVIS_AUTH_KERNEL_URL"
#: The secret a kernel sends in SECRET_HEADER.
ENV_SECRET = "NEVIS_AUTH_KERNEL_SECRET"  # noqa: S105 (a variable name)
#: The server's own TLS certificate (PEM), when it serves HTTPS.
ENV_CA = "NEVIS_AUTH_KERNEL_CA"
#: Where a person signs in, for messages and the widget's link.
ENV_LOGIN_URL = "NEVIS_AUTH_LOGIN_URL"
#: Why this server's kernels cannot get tokens, when it knows they cannot.
ENV_ERROR = "NEVIS_AUTH_KERNEL_ERROR"
#: Seconds a kernel waits for an answer of the server (set by the user, not the server).
ENV_TIMEOUT = "NEVIS_AUTH_KERNEL_TIMEOUT"
#: Seconds a cell waits for a person to sign in.
ENV_LOGIN_TIMEOUT = "NEVIS_AUTH_LOGIN_TIMEOUT"
#: Every variable the server sets for its kernels.
SERVER_ENV = (ENV_URL, ENV_SECRET, ENV_CA, ENV_LOGIN_URL, ENV_ERROR, ENV_LOGIN_TIMEOUT)

SECRET_HEADER = "X-Nevis-Kernel-Secret"  # noqa: S105 (a header name)
#: Seconds a token has left at least when a kernel does not say.
DEFAULT_MIN_TTL = 60.0

#: The kernel endpoints, below the server's base URL. GET on TOKEN_PATH answers a
#: TokenAnswer, DELETE signs out and answers a Status; GET on TOKEN_STATUS_PATH a Status.
TOKEN_PATH = "nevis/api/token"  # noqa: S105 (a URL path)
TOKEN_STATUS_PATH = TOKEN_PATH + "/status"
#: Query parameters of GET TOKEN_PATH: seconds the token must have left, and "1" to get a
#: new token because the old one was refused.
MIN_TTL_PARAM = "min_ttl"
FORCE_REFRESH_PARAM = "force_refresh"

#: The `error` of an ErrorAnswer, with the HTTP status it comes with.
LOGIN_REQUIRED = "login_required"  # 401
INVALID_REQUEST = "invalid_request"  # 400
PROVIDER_ERROR = "provider_error"  # 502
PROVIDER_TIMEOUT = "provider_timeout"  # 504


class TokenAnswer(TypedDict, total=False):
    """The JSON of a successful GET on the token endpoint."""

    access_token: str
    token_type: str
    expires_at: float | None
    expires_in: float | None
    scope: str
    id_token: str | None
    claims: dict[str, Any]


class ErrorAnswer(TypedDict, total=False):
    """The JSON of a failed request to a kernel endpoint."""

    error: str
    message: str
    login_url: str


class Status(TypedDict, total=False):
    """The sign-in status (also of nevis/api/status): never a token."""

    logged_in: bool
    signed_out_reason: str | None
    last_refresh_error: str | None
    claims: dict[str, Any]
    scopes: list[str]
    expires_at: float | None
    expires_in: float | None
    refresh_possible: bool
    #: Sentences about the sign-in a person should know; absent from older servers.
    warnings: list[str]
    login_url: str
