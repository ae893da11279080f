"""The exceptions of jupyter-nevis-auth: one small tree under `NevisAuthError`.

This module must stay importable in a kernel, so it imports nothing from Jupyter.
"""

from __future__ import annotations


class NevisAuthError(Exception):
    """Base class of every error raised by jupyter-nevis-auth."""

    #: HTTP status used when the error reaches a browser or a kernel.
    status_code = 500


class SettingsError(NevisAuthError):
    """A NevisAuth setting is missing or wrong, or does not match the provider's registration."""

    status_code = 503


class CallbackError(NevisAuthError):
    """The provider's redirect back is unusable (state missing, expired, reused, no code...)."""

    status_code = 400


class AccessDeniedError(CallbackError):
    """The provider reported that the user or the provider refused the sign-in."""

    status_code = 403


class ProviderError(NevisAuthError):
    """The OpenID provider could not be reached or gave an unusable answer."""

    status_code = 502


class ProviderTimeoutError(ProviderError):
    """The OpenID provider did not answer within the configured timeout."""

    status_code = 504


class OAuthError(ProviderError):
    """The provider answered a token request with an OAuth error code."""

    def __init__(self, message: str, error: str = "") -> None:
        super().__init__(message)
        self.error = error


class InvalidTokenError(ProviderError):
    """A token from the provider failed validation and was not used."""


class LoginRequiredError(NevisAuthError):
    """The user is not signed in at the provider (or the sign-in has ended)."""

    status_code = 401

    def __init__(self, message: str, login_url: str = "") -> None:
        super().__init__(message)
        self.login_url = login_url


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
