"""The exceptions of jupyter-nevis-auth: one small tree under `NevisAuthError`.

This module must stay importable in a kernel, so it imports nothing from Jupyter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class NevisAuthError(Exception):
    """Base class of every error raised by jupyter-nevis-auth."""

    #: HTTP status used when the error reaches a browser or a kernel.
    status_code = 500


class SettingsError(NevisAuthError):
    """A NevisAuth setting is missing or wrong, or does not match the provider's registration."""

    status_code = 503


class RequestError(NevisAuthError):
    """A request names an API or provider this server does not have, or is malformed."""

    status_code = 400


class StoreUnavailableError(NevisAuthError):
    """The token store cannot be read or written now (its database is down, its disk full)."""

    status_code = 503


class CallbackError(NevisAuthError):
    """The provider's redirect back is unusable (state missing, expired, reused, no code...)."""

    status_code = 400


class AccessDeniedError(CallbackError):
    """The provider reported that the user or the provider refused the sign-in."""

    status_code = 403


class WrongIdentityError(AccessDeniedError):
    """A sign-in names another person than the one the user's sign-ins belong to."""


class UpstreamError(NevisAuthError):
    """A server this one calls (the provider, JupyterHub, its service) gave no usable answer."""

    status_code = 502


class UpstreamTimeoutError(UpstreamError):
    """A server this one calls did not answer in time."""

    status_code = 504


class ProviderError(UpstreamError):
    """The OpenID provider could not be reached or gave an unusable answer."""

    status_code = 502


class ProviderTimeoutError(ProviderError):
    """The OpenID provider did not answer within the configured timeout."""

    status_code = 504


class RefreshElsewhereError(ProviderTimeoutError):
    """Another process sharing the store (a replica) holds the refresh and has not finished."""

    status_code = 503

    @classmethod
    def after(cls, waited: float, lease_seconds: float) -> RefreshElsewhereError:
        """The error of a caller that waited `waited` seconds for a lease of `lease_seconds`."""
        return cls(
            f"Another replica of the service is refreshing this sign-in and has not finished "
            f"within {waited:g} seconds (if it stopped, its hold on the refresh runs out "
            f"within {lease_seconds:g} seconds); try again in {lease_seconds:g} seconds."
        )


class OAuthError(ProviderError):
    """The provider answered a token request with an OAuth error code."""

    def __init__(self, message: str, error: str = "", description: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        #: The provider's error_description, as it sent it (refusals.described shortens it).
        self.description = description


class InvalidTokenError(ProviderError):
    """A token from the provider failed validation and was not used."""


class LoginRequiredError(NevisAuthError):
    """The user is not signed in at the provider (or the sign-in has ended)."""

    status_code = 401

    def __init__(
        self,
        message: str,
        login_url: str = "",
        *,
        api: str | None = None,
        provider: str | None = None,
        scopes: Sequence[str] = (),
        request: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        #: Where to sign in for exactly what is missing.
        self.login_url = login_url
        #: What that sign-in is for: an API (None for a provider's own token), its provider
        #: and the scopes it asks for.
        self.api = api
        self.provider = provider
        self.scopes = list(scopes)
        #: The token request that found no token (its api, provider, scope... parameters),
        #: so that a wait can ask for exactly that token again.
        self.request = dict(request or {})


class NoAPIForURLError(NevisAuthError):
    """No configured API serves a request's URL, and unlisted URLs get no token."""

    status_code = 400

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        #: The URL, without its query string.
        self.url = url


class NotConfiguredError(NevisAuthError):
    """The kernel helper cannot find the Jupyter server that holds the tokens."""


class TokenServiceError(NevisAuthError):
    """The kernel helper could not get a token from the Jupyter server."""


class TokenServiceUnreachableError(TokenServiceError):
    """The kernel helper cannot connect to the Jupyter server."""


class KernelSecretRejectedError(TokenServiceError):
    """The Jupyter server did not accept the kernel's secret."""


class TokenServiceTimeoutError(TokenServiceError):
    """The Jupyter server (or the provider behind it) did not answer in time."""
