"""The contract between the server and its kernels: variables, header, paths and JSON names.

The server extension and the kernel API both import it, so it imports only the standard
library: loading one side never pulls in what only the other needs.
"""

from __future__ import annotations

from typing import Any, TypedDict

#: The URL of the server's token endpoint, for kernels.
ENV_URL = "NEVIS_AUTH_KERNEL_URL"
#: The secret a kernel sends in SECRET_HEADER (secret_header).
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
#: How a waiting cell asks for the sign-in: widget, link or device (set by the user, not the
#: server; unset: the kernel chooses by what the frontend can show).
ENV_LOGIN_METHOD = "NEVIS_AUTH_LOGIN_METHOD"
#: Every variable the server sets for its kernels.
SERVER_ENV = (ENV_URL, ENV_SECRET, ENV_CA, ENV_LOGIN_URL, ENV_ERROR, ENV_LOGIN_TIMEOUT)

#: A kernel sends its secret as `Authorization: NevisKernel <secret>`: request logs hide the
#: Authorization header's value even where they write a failed request's headers
#: (JupyterHub's, at a 5xx), and jupyter_server and JupyterHub read only their own schemes
#: (token, bearer) from it.
SECRET_HEADER = "Authorization"  # noqa: S105 (a header name)
SECRET_SCHEME = "NevisKernel"  # noqa: S105 (a scheme name)
#: Where kernels of earlier versions send the secret (an older jupyter-nevis-auth in the
#: kernel's environment): the server still takes it there, and drops the header from the
#: request before anything can log it.
LEGACY_SECRET_HEADER = "X-Nevis-Kernel-Secret"  # noqa: S105 (a header name)
#: Seconds a token has left at least when a kernel does not say.
DEFAULT_MIN_TTL = 60.0

#: The kernel endpoints, below the server's base URL. GET on TOKEN_PATH answers a
#: TokenAnswer, DELETE signs out and answers a Status; GET on TOKEN_STATUS_PATH a Status.
TOKEN_PATH = "nevis/api/token"  # noqa: S105 (a URL path)
TOKEN_STATUS_PATH = TOKEN_PATH + "/status"
#: GET on APIS_PATH answers an ApisAnswer: the configured APIs, for routing by URL.
APIS_PATH = TOKEN_PATH + "/apis"
#: POST on LINK_PATH (with the parameters choosing a sign-in, below) answers a LinkAnswer: a
#: one-time sign-in link for any browser; DELETE with LINK_TOKEN_PARAM makes it unusable.
LINK_PATH = TOKEN_PATH + "/link"
#: The link's own parameter; its name contains "token", so Jupyter's access log hides its value.
LINK_TOKEN_PARAM = "link_token"  # noqa: S105 (a parameter name)
#: POST on DEVICE_PATH starts a device sign-in (RFC 8628) and answers a DeviceAnswer; GET with
#: DEVICE_ID_PARAM answers its DeviceProgress, DELETE gives it up.
DEVICE_PATH = TOKEN_PATH + "/device"
DEVICE_ID_PARAM = "id"
#: GET on WAIT_PATH (with the parameters choosing a token, below, and WAIT_PARAM) waits at
#: the server until that token can be had or WAIT_PARAM seconds (at most MAX_WAIT) passed,
#: and answers a WaitAnswer: a waiting cell asks once per wait, not once a second.
WAIT_PATH = TOKEN_PATH + "/wait"
WAIT_PARAM = "seconds"
MAX_WAIT = 30.0
#: With WAIT_PATH: when (time.time()) the cell began to wait; a sign-in naming another person
#: refused since then ends the wait (WaitAnswer's refusal).
WAIT_SINCE_PARAM = "since"
#: Query parameters of GET TOKEN_PATH: seconds the token must have left, and "1" to get a
#: new token because the old one was refused.
MIN_TTL_PARAM = "min_ttl"
FORCE_REFRESH_PARAM = "force_refresh"
#: Which token (GET TOKEN_PATH) or which sign-in (DELETE TOKEN_PATH, nevis/login): a named
#: API; a provider (its own token, or with the ad-hoc parameters below, or the provider
#: to sign out of); or ad hoc, SCOPE_PARAM (space separated), RESOURCE_PARAM (RFC 8707)
#: and AUDIENCE_PARAM. None of them: the default provider's token.
API_PARAM = "api"
PROVIDER_PARAM = "provider"
SCOPE_PARAM = "scope"
RESOURCE_PARAM = "resource"
AUDIENCE_PARAM = "audience"
#: With the parameters above, what the sign-in behind the token must reach: one of these
#: authentication levels (space separated), and at most this many seconds ago; an API's
#: step-up challenge (RFC 9470) asks for them, and SCOPE_PARAM with API_PARAM for the scopes
#: its insufficient_scope challenge names (RFC 6750).
ACR_VALUES_PARAM = "acr_values"
MAX_AGE_PARAM = "max_age"
#: The name of the top-level provider of the configuration.
DEFAULT_PROVIDER = "default"

#: The `error` of an ErrorAnswer, with the HTTP status it comes with.
LOGIN_REQUIRED = "login_required"  # 401
INVALID_REQUEST = "invalid_request"  # 400
PROVIDER_ERROR = "provider_error"  # 502
STORE_UNAVAILABLE = "store_unavailable"  # 503: the token store cannot be reached
PROVIDER_TIMEOUT = "provider_timeout"  # 504
#: DEVICE_PATH: the configuration or the provider offers no device sign-in.
DEVICE_FLOW_UNAVAILABLE = "device_flow_unavailable"  # 400


class TokenAnswer(TypedDict, total=False):
    """The JSON of a successful GET on the token endpoint."""

    #: The API the token is for (None for a provider's own token), and its provider.
    api: str | None
    provider: str

    access_token: str
    token_type: str
    expires_at: float | None
    expires_in: float | None
    scope: str
    id_token: str | None
    claims: dict[str, Any]
    #: With token_type DPoP: the private JWK the token is bound to, for the kernel's proofs.
    dpop_jwk: dict[str, str]


class ErrorAnswer(TypedDict, total=False):
    """The JSON of a failed request to a kernel endpoint."""

    #: With LOGIN_REQUIRED: what the sign-in at `login_url` is for.
    api: str | None
    provider: str
    scopes: list[str]

    error: str
    message: str
    login_url: str
    #: With LOGIN_REQUIRED: when (time.time()) a sign-in naming another person than the
    #: user's was last refused, and the sentence why; absent when none was.
    refused_at: float
    refusal: str


class ProviderStatus(TypedDict, total=False):
    """One provider's sign-in: who, until when, whether it renews; never a token."""

    logged_in: bool
    signed_out_reason: str | None
    #: True when the provider ended the sign-in (it refused the refresh token); absent from
    #: older servers.
    signed_out_by_provider: bool
    last_refresh_error: str | None
    claims: dict[str, Any]
    scopes: list[str]
    expires_at: float | None
    expires_in: float | None
    refresh_possible: bool
    #: Sentences about the sign-in a person should know; absent from older servers.
    warnings: list[str]
    login_url: str
    display_name: str


class Status(ProviderStatus, total=False):
    """The sign-in status (also of nevis/api/status): the default provider's, then all."""

    #: Every provider's sign-in, by name (the top-level fields repeat DEFAULT_PROVIDER's),
    #: and every configured API's token.
    providers: dict[str, ProviderStatus]
    apis: dict[str, ApiStatus]


class ApiStatus(TypedDict, total=False):
    """One API's token: what it is for and how long it has left; never the token."""

    provider: str
    urls: list[str]
    scopes: list[str]
    resource: str | None
    audience: str | None
    #: False until a token for the API is held (or the provider's own token covers it).
    ready: bool
    expires_at: float | None
    expires_in: float | None
    #: "provider token", "narrowed refresh", "token exchange" or "sign-in".
    obtained_by: str | None
    login_url: str


class ApiInfo(TypedDict):
    """One configured API, as kernels see it: never a secret."""

    name: str
    urls: list[str]
    provider: str
    scopes: list[str]
    resource: str | None
    audience: str | None


class ApisAnswer(TypedDict):
    """The JSON of GET APIS_PATH."""

    apis: list[ApiInfo]
    #: Whether a URL no API claims gets the default token (else: no token, an error).
    default_for_unlisted_urls: bool


class LinkAnswer(TypedDict, total=False):
    """The JSON of POST LINK_PATH: a one-time sign-in link that works in any browser."""

    url: str
    #: Seconds the link stays usable (once).
    expires_in: float
    #: False when the server does not know the address browsers reach it at: the link then
    #: names the address the kernel used, which works only on the server's machine.
    public: bool
    #: A sentence for the person about the link, when there is one to say.
    note: str | None
    #: Whether POST DEVICE_PATH may be asked instead.
    device_flow: bool


class WaitAnswer(TypedDict, total=False):
    """The JSON of GET WAIT_PATH."""

    #: Whether the token asked for can be had now (False: the wait ran out first).
    ready: bool
    #: Why the wait ended without a token: a sign-in naming another person than the user's
    #: was refused since WAIT_SINCE_PARAM (absent otherwise, and from older servers).
    refusal: str


class DeviceAnswer(TypedDict, total=False):
    """The JSON of POST DEVICE_PATH: what the person needs to sign in on any device."""

    id: str
    verification_uri: str
    verification_uri_complete: str | None
    user_code: str
    expires_in: float
    interval: float


class DeviceProgress(TypedDict, total=False):
    """The JSON of GET DEVICE_PATH: "pending", "done", or "failed" with a sentence."""

    status: str
    message: str


def secret_header(secret: str) -> dict[str, str]:
    """The header by which a kernel shows it is one of its server's."""
    return {SECRET_HEADER: f"{SECRET_SCHEME} {secret}"}


def secret_in(authorization: str) -> str:
    """The kernel secret in an Authorization header's value, "" when it carries none."""
    scheme, _, secret = authorization.strip().partition(" ")
    # Schemes are case-insensitive (RFC 9110 11.1).
    return secret.strip() if scheme.lower() == SECRET_SCHEME.lower() else ""
