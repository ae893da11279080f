"""What a provider's OAuth error means for the person who sees it, and who can fix it."""

from __future__ import annotations

from ..env import env_name
from ..errors import (
    AccessDeniedError,
    CallbackError,
    NevisAuthError,
    ProviderError,
    SettingsError,
)
from .http import oauth_error_code

#: Provider error codes meaning the user (or the provider's policy) said no.
REFUSALS = {
    "access_denied", "login_required", "consent_required", "interaction_required",
    "account_selection_required",
}  # fmt: skip
#: Provider error codes that only a later try can fix.
TRANSIENT = {"server_error", "temporarily_unavailable"}
#: Characters of an error_description shown at most.
MAX_DESCRIPTION = 200

#: For authorization errors a retry cannot fix: what the administrator should do.
AUTHORIZE_FIXES = {
    "invalid_request": "check NevisAuth.redirect_uri and NevisAuth.extra_authorize_params "
    f"(${env_name('extra_authorize_params')})",
    "unauthorized_client": "allow the authorization code grant for NevisAuth.client_id at the "
    "provider",
    "unsupported_response_type": "allow the authorization code grant (response type code) for "
    "NevisAuth.client_id at the provider",
    "invalid_client": f"check NevisAuth.client_id (${env_name('client_id')})",
}


def described(description: str | None) -> str:
    """The provider's error_description as a shortened, printable sentence ("" when none)."""
    if not description:
        return ""
    text = "".join(c if c.isprintable() else " " for c in description).strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "\u2026"
    return f" The provider said: \u201c{text}\u201d." if text else ""


def scope_problem(scopes: list[str], unoffered: list[str], listed: bool) -> str:
    """The sentence for invalid_scope: which scopes, which the provider does not offer."""
    if unoffered:
        which = f"; it does not offer {' '.join(unoffered)}"
    elif listed:
        which = ""
    else:
        which = "; it does not publish which scopes it offers"
    return (
        f"The provider refused the requested scopes \u201c{' '.join(scopes)}\u201d "
        f"(invalid_scope){which}. Ask your administrator to change NevisAuth.scopes "
        f"(${env_name('scopes')})."
    )


def authorize_error(error: str, description: str | None, scope_sentence: str) -> NevisAuthError:
    """The error for an authorization response's `error`: what happened, who fixes it."""
    said = described(description)
    if error in REFUSALS:
        return AccessDeniedError(
            f"The sign-in was refused or cancelled at the provider ({error}); try again.{said}"
        )
    if error in TRANSIENT:
        return ProviderError(
            f"The provider could not complete the sign-in ({error}); try again later.{said}"
        )
    if error == "invalid_scope":
        return SettingsError(scope_sentence + said)
    code = oauth_error_code({"error": error}) or "an unknown error"
    fix = AUTHORIZE_FIXES.get(error, "check this server's NevisAuth settings against the provider")
    return SettingsError(
        f"The provider refused the sign-in request ({code}); ask your administrator to {fix}.{said}"
    )


def token_error(error: str, scope_sentence: str) -> NevisAuthError:
    """The error for a token endpoint's OAuth error answer to the code exchange."""
    if error == "invalid_grant":
        return CallbackError(
            "The provider did not accept the sign-in code (expired or already used); sign in again."
        )
    if error in TRANSIENT:
        return ProviderError(f"The provider could not issue tokens ({error}); try again later.")
    if error in ("invalid_client", "unauthorized_client"):
        return SettingsError(
            f"The provider did not accept this server's client credentials ({error}); ask "
            "your administrator to check NevisAuth.client_id, NevisAuth.client_secret (or "
            "client_secret_file) and NevisAuth.token_endpoint_auth_method."
        )
    if error == "invalid_scope":
        return SettingsError(scope_sentence)
    return SettingsError(
        f"The provider refused to issue tokens ({error}); ask your administrator to check "
        "the client id, secret and redirect URI."
    )
