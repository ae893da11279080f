"""What a provider's OAuth error means for the person who sees it, and who can fix it."""

from __future__ import annotations

from ..core.config import NevisAuth
from ..core.config_checks import uses_client_key
from ..errors import AccessDeniedError, CallbackError, NevisAuthError, ProviderError, SettingsError
from .http import oauth_error_code

#: Provider error codes meaning the user (or the provider's policy) said no.
REFUSALS = {
    "access_denied",
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
}
#: Provider error codes that only a later try can fix.
TRANSIENT = {"server_error", "temporarily_unavailable"}
#: Characters of an error_description shown at most.
MAX_DESCRIPTION = 200


def authorize_fixes(config: NevisAuth) -> dict[str, str]:
    """For authorization errors a retry cannot fix: what the administrator should do, naming
    the options of the provider `config` is."""
    label = config.label
    return {
        "invalid_request": f"check {label}.redirect_uri and "
        f"{config.option('extra_authorize_params')}",
        "unauthorized_client": f"allow the authorization code grant for {label}.client_id at "
        "the provider",
        "unsupported_response_type": "allow the authorization code grant (response type code) "
        f"for {label}.client_id at the provider",
        "invalid_client": f"check {config.option('client_id')} and {credentials(config)}",
    }


def credentials(config: NevisAuth) -> str:
    """How a sentence names the options holding the client's credentials."""
    if uses_client_key(config):
        return (
            f"{config.option('client_key_file')} (its public keys must be registered at the "
            "provider)"
        )
    return f"{config.label}.client_secret (or client_secret_file)"


#: Token endpoint error codes that refuse this server's client, whatever the grant.
CLIENT_REFUSED = ("invalid_client", "unauthorized_client")


def client_refused(error: str, config: NevisAuth) -> str:
    """The sentence for a token endpoint that refused the client's credentials."""
    return (
        f"The provider did not accept this server's client credentials ({error}); ask "
        f"your administrator to check {config.label}.client_id, {credentials(config)} and "
        f"{config.label}.token_endpoint_auth_method."
    )


def described(description: str | None) -> str:
    """The provider's error_description as a shortened, printable sentence ("" when none)."""
    if not description:
        return ""
    text = "".join(c if c.isprintable() else " " for c in description).strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "\u2026"
    return f" The provider said: \u201c{text}\u201d." if text else ""


def scope_problem(scopes: list[str], unoffered: list[str], listed: bool, config: NevisAuth) -> str:
    """The sentence for invalid_scope: which scopes, which the provider does not offer."""
    if unoffered:
        which = f"; it does not offer {' '.join(unoffered)}"
    elif listed:
        which = ""
    else:
        which = "; it does not publish which scopes it offers"
    return (
        f"The provider refused the requested scopes \u201c{' '.join(scopes)}\u201d "
        f"(invalid_scope){which}. Ask your administrator to change {config.option('scopes')}."
    )


def authorize_error(
    error: str, description: str | None, scope_sentence: str, config: NevisAuth
) -> NevisAuthError:
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
    fix = authorize_fixes(config).get(
        error, f"check this server's {config.label} settings against the provider"
    )
    return SettingsError(
        f"The provider refused the sign-in request ({code}); ask your administrator to {fix}.{said}"
    )


def token_error(error: str, scope_sentence: str, config: NevisAuth) -> NevisAuthError:
    """The error for a token endpoint's OAuth error answer to the code exchange."""
    if error == "invalid_grant":
        return CallbackError(
            "The provider did not accept the sign-in code (expired or already used); sign in again."
        )
    if error in TRANSIENT:
        return ProviderError(f"The provider could not issue tokens ({error}); try again later.")
    if error in CLIENT_REFUSED:
        return SettingsError(client_refused(error, config))
    if error == "invalid_scope":
        return SettingsError(scope_sentence)
    return SettingsError(
        f"The provider refused to issue tokens ({error}); ask your administrator to check "
        "the client id, secret and redirect URI."
    )
