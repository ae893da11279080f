"""Options: the `NevisAuth` configurable, its help, its checks."""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Dict, Enum, Float, Int, List, Type, Unicode

from ..errors import SettingsError
from .config_checks import SAFE_ALGORITHMS, problems
from .env import EnvConfigurable
from .secret_files import read_secret_file


class NevisAuth(EnvConfigurable):
    """Settings of jupyter-nevis-auth; each one can also come from its NEVIS_AUTH_* env var."""

    issuer = Unicode(
        "",
        config=True,
        help="""Issuer URL of the OpenID provider, for example
        https://<instance>.id.nevis.cloud. Discovery is read from
        <issuer>/.well-known/openid-configuration. Default: $NEVIS_AUTH_ISSUER""",
    )
    client_id = Unicode(
        "",
        config=True,
        help="""Client id of the application registered at the provider.
        Default: $NEVIS_AUTH_CLIENT_ID""",
    )
    client_secret = Unicode(
        "",
        config=True,
        help="""Client secret of the application. Prefer client_secret_file for secrets
        mounted from a secret store. Default: $NEVIS_AUTH_CLIENT_SECRET""",
    )
    client_secret_file = Unicode(
        "",
        config=True,
        help="""Path of a file holding the client secret (surrounding whitespace is ignored);
        read each time the secret is needed, so a rotated secret is picked up.
        Default: $NEVIS_AUTH_CLIENT_SECRET_FILE""",
    )
    scopes = List(
        Unicode(),
        default_value=["openid", "offline_access"],
        config=True,
        help="""Scopes to request. `openid` gives the ID token, `offline_access` the refresh
        token. Default: $NEVIS_AUTH_SCOPES (space separated), else "openid offline_access".""",
    )
    redirect_uri = Unicode(
        "",
        config=True,
        help="""Redirect URI registered at the provider. Empty: derived from the request as
        <origin><base_url>nevis/callback (honouring X-Forwarded-* when the server trusts them).
        Under JupyterHub set it to https://<hub>/hub/user-redirect/nevis/callback.
        Default: $NEVIS_AUTH_REDIRECT_URI""",
    )
    authorize_url = Unicode(
        "",
        config=True,
        help="Authorization endpoint; overrides discovery. Default: $NEVIS_AUTH_AUTHORIZE_URL",
    )
    token_url = Unicode(
        "", config=True, help="Token endpoint; overrides discovery. Default: $NEVIS_AUTH_TOKEN_URL"
    )
    jwks_url = Unicode(
        "", config=True, help="JWKS endpoint; overrides discovery. Default: $NEVIS_AUTH_JWKS_URL"
    )
    revocation_url = Unicode(
        "",
        config=True,
        help="""Revocation endpoint (RFC 7009); overrides discovery.
        Default: $NEVIS_AUTH_REVOCATION_URL""",
    )
    logout_url = Unicode(
        "",
        config=True,
        help="""Provider logout URL, used when logout_at_provider is on; overrides the discovered
        end_session_endpoint. For Nevis Identity Cloud: https://<instance>.id.nevis.cloud/sso/logout
        (the return_to URL must be in the application's allowed list).
        Default: $NEVIS_AUTH_LOGOUT_URL""",
    )
    post_logout_redirect_uri = Unicode(
        "",
        config=True,
        help="""Where the provider sends the browser back after its logout; register it at the
        provider (Nevis: an allowed return URL; OIDC: a post_logout_redirect_uri). Empty: derived
        from the request as <origin><base_url>nevis/logout, which shows "signed out".
        Default: $NEVIS_AUTH_POST_LOGOUT_REDIRECT_URI""",
    )
    token_endpoint_auth_method = Enum(
        ["", "client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        default_value="",
        config=True,
        help="""How the client authenticates at the provider. Empty: private_key_jwt when
        client_key_file is set, else client_secret_basic when the provider advertises it, else
        client_secret_post. Default: $NEVIS_AUTH_TOKEN_ENDPOINT_AUTH_METHOD""",
    )
    client_key_file = Unicode(
        "",
        config=True,
        help="""Key file of private_key_jwt (PEM or JWK Set; `jupyter nevis-auth make-client-key`):
        the first key signs, all are published. chmod 600. Default: $NEVIS_AUTH_CLIENT_KEY_FILE""",
    )
    use_par = Enum(
        ["auto", "always", "never"],
        "auto",
        config=True,
        help="""Pushed authorization requests (RFC 9126): auto (when advertised), always or
        never (refused where the provider requires them). Default: $NEVIS_AUTH_USE_PAR""",
    )
    par_url = Unicode(
        "", config=True, help="PAR endpoint; overrides discovery. Default: $NEVIS_AUTH_PAR_URL"
    )
    profile = Enum(
        ["", "fapi2"],
        "",
        config=True,
        help="""fapi2: FAPI 2.0 (PAR, private_key_jwt, PKCE S256, iss, DPoP); sign-ins are
        refused, naming what is missing, until all are there. Default: $NEVIS_AUTH_PROFILE""",
    )
    dpop = Bool(
        False,
        config=True,
        help="""Bind the provider's tokens to a key the server makes for each sign-in (DPoP,
        RFC 9449): a token copied out of a notebook is of no use without the key. APIs can
        ask for it one by one (their dpop). Default: $NEVIS_AUTH_DPOP""",
    )
    extra_authorize_params = Dict(
        config=True,
        help="""Extra parameters for the authorization request, such as prompt, acr_values or
        login_hint. Default: $NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS (a JSON object)""",
    )
    id_token_signing_algs = List(
        Unicode(),
        default_value=list(SAFE_ALGORITHMS),
        config=True,
        help="""Signature algorithms accepted on ID tokens (asymmetric only; `none` and HS*
        are always refused). Default: $NEVIS_AUTH_ID_TOKEN_SIGNING_ALGS (space separated)""",
    )
    http_timeout = Float(
        10.0,
        config=True,
        help="Seconds to wait for any provider call. Default: $NEVIS_AUTH_HTTP_TIMEOUT",
    )
    validate_cert = Bool(
        True,
        config=True,
        help="Verify the provider's TLS certificate. Default: $NEVIS_AUTH_VALIDATE_CERT",
    )
    ca_bundle = Unicode(
        "",
        config=True,
        help="CA bundle file for the provider's TLS certificate. Default: $NEVIS_AUTH_CA_BUNDLE",
    )
    clock_skew = Int(
        60,
        config=True,
        help="""Seconds of clock difference tolerated on token times.
        Default: $NEVIS_AUTH_CLOCK_SKEW""",
    )
    state_ttl = Int(
        600,
        config=True,
        help="Seconds a started sign-in may take before it expires. Default: $NEVIS_AUTH_STATE_TTL",
    )
    refresh_leeway = Int(
        60,
        config=True,
        help="""Refresh the access token when it has fewer seconds than this left.
        Default: $NEVIS_AUTH_REFRESH_LEEWAY""",
    )
    logout_at_provider = Bool(
        False,
        config=True,
        help="""On nevis/logout also end the session at the provider (end_session_endpoint or
        logout_url). Default: $NEVIS_AUTH_LOGOUT_AT_PROVIDER""",
    )
    token_store_class = Type(
        default_value="jupyter_nevis_auth.core.stores.MemoryTokenStore",
        klass="jupyter_nevis_auth.core.stores.TokenStore",
        config=True,
        help="""Where tokens are kept: jupyter_nevis_auth.core.stores.MemoryTokenStore (default) or
        jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore (survives restarts).
        Default: $NEVIS_AUTH_TOKEN_STORE_CLASS""",
    )
    store_path = Unicode(
        "",
        config=True,
        help="""File EncryptedFileTokenStore keeps the tokens in, encrypted with store_key.
        Empty: nevis_auth/tokens.fernet in the Jupyter data directory (`jupyter --data-dir`);
        tokens-<name>.fernet for a named JupyterHub server. Default: $NEVIS_AUTH_STORE_PATH""",
    )
    store_key = Unicode(
        "",
        config=True,
        help="""Fernet key encrypting the token file of EncryptedFileTokenStore (make one with
        `jupyter nevis-auth make-key`). To change keys, list the new key first and the old one
        after it, separated by a comma, until the file has been written again.
        Prefer store_key_file. Default: $NEVIS_AUTH_STORE_KEY""",
    )
    store_key_file = Unicode(
        "",
        config=True,
        help="""Path of a file holding store_key (the same comma-separated keys; surrounding
        whitespace is ignored), e.g. a mounted Kubernetes Secret; wins over store_key. Read
        when the store starts; refused when anybody may read it (chmod 600).
        Default: $NEVIS_AUTH_STORE_KEY_FILE""",
    )
    allowed_subjects = List(
        Unicode(),
        config=True,
        help="""Provider subjects (the ID token's `sub`) whose sign-ins this server takes. Empty:
        the subject of the first sign-in, until the user signs out (under the JupyterHub
        service: the subject of the user's JupyterHub login). ["*"]: any subject, each
        sign-in replacing the last. A sign-in naming another subject is refused and changes
        nothing. Default: $NEVIS_AUTH_ALLOWED_SUBJECTS (space separated)""",
    )
    login_timeout = Float(
        300.0,
        config=True,
        help="""Seconds a notebook cell waits for the user to sign in before it raises
        LoginRequiredError. Default: $NEVIS_AUTH_LOGIN_TIMEOUT""",
    )
    public_url = Unicode(
        "",
        config=True,
        help="""The origin (scheme://host[:port]) browsers reach this server at, for one-time
        sign-in links (<public_url><base_url>nevis/link). Empty: $JUPYTERHUB_PUBLIC_URL's origin,
        else redirect_uri's. Default: $NEVIS_AUTH_PUBLIC_URL""",
    )
    device_flow = Bool(
        False,
        config=True,
        help="""Offer the device authorization grant (RFC 8628) where the provider advertises it,
        after the code flow. Default: $NEVIS_AUTH_DEVICE_FLOW""",
    )

    apis = Dict(
        config=True,
        help="""Named APIs, each with the token it needs: {"sales": {"url":
        "https://sales.example/api/" (or a list), "scopes": ["sales.read"], "resource":
        "https://sales.example" (RFC 8707), "audience": "...", "provider": "<a name in
        providers>", "token_exchange": true}}. BearerAuth() and session() pick the API by the
        request's URL (longest prefix). Default: $NEVIS_AUTH_APIS (JSON)""",
    )
    providers = Dict(
        config=True,
        help="""Further named providers, each with the provider options of NevisAuth (issuer,
        client_id, client_secret or client_secret_file, scopes, endpoints...): {"partner":
        {"issuer": "...", "client_id": "..."}}. The top-level options stay the "default"
        provider. A named provider's options also come from $NEVIS_AUTH_<NAME>_<OPTION>,
        e.g. $NEVIS_AUTH_PARTNER_CLIENT_SECRET. It takes redirect_uri,
        post_logout_redirect_uri and extra_authorize_params from the top level unless it sets
        them; every other provider option (issuer, client, secret, scopes, endpoints,
        algorithms, TLS settings, allowed_subjects) is its own, with the option's default.
        Default: $NEVIS_AUTH_PROVIDERS (JSON)""",
    )
    default_token_for_unlisted_urls = Bool(
        False,
        config=True,
        help="""With APIs configured, whether BearerAuth() and session() send the default
        token to a URL that no API claims (else they send none and raise NoAPIForURLError).
        Default: $NEVIS_AUTH_DEFAULT_TOKEN_FOR_UNLISTED_URLS""",
    )

    #: How messages name this provider's options: NevisAuth, or NevisAuth.providers["x"].
    label = "NevisAuth"

    mode = Enum(
        ["auto", "server", "hub"],
        default_value="auto",
        config=True,
        help="""Where sign-ins and tokens live. server: this server runs the code flow and
        holds the client secret and the tokens. hub: the JupyterHub service of this package
        does (hub_service_url), and this server only asks it, with its own
        $JUPYTERHUB_API_TOKEN. auto: hub when hub_service_url is set, else server.
        Default: $NEVIS_AUTH_MODE""",
    )
    hub_service_url = Unicode(
        "",
        config=True,
        help="""URL at which user servers reach the jupyter-nevis-auth JupyterHub service,
        with its prefix, e.g. http://127.0.0.1:10101/services/nevis-auth/ (set it in
        c.Spawner.environment). Default: $NEVIS_AUTH_HUB_SERVICE_URL""",
    )

    @property
    def hub_mode(self) -> bool:
        """Whether this server asks the hub service for sign-ins and tokens."""
        return self.mode == "hub" or (self.mode == "auto" and bool(self.hub_service_url))

    def option(self, name: str) -> str:
        """How a message names option `name` of this provider: the option and its env var."""
        return f"{self.label}.{name} (${self.env_var_of(name)})"

    def get_client_secret(self) -> str:
        """The client secret, from client_secret_file when set, else client_secret."""
        if self.client_secret_file:
            try:
                return Path(self.client_secret_file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise SettingsError(
                    f"The client secret file {self.client_secret_file} cannot be read "
                    f"({e.strerror}); fix {self.label}.client_secret_file "
                    f"(${self.env_var_of('client_secret_file')})."
                ) from e
        return self.client_secret

    def get_store_key(self) -> str:
        """The store key(s), from store_key_file when set, else store_key; or SettingsError."""
        if self.store_key_file:
            option = f"NevisAuth.store_key_file (${self.env_var_of('store_key_file')})"
            return read_secret_file(self.store_key_file, "store key file", option)
        return self.store_key

    def problems(self) -> list[str]:
        """Sentences naming each missing or wrong setting and how to set it."""
        return problems(self)
