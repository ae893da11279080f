"""Run the oidc-provider test provider (tests/provider/server.mjs) and drive its login pages."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.support.process import Process, ProcessError

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "provider"
SERVER_SCRIPT = PROVIDER_DIR / "server.mjs"
# Everything the provider offers for the default API (https://api.test); the
# others are asked for with sales.read or models.read. offline_access yields a
# refresh token only with prompt=consent.
DEFAULT_SCOPES = "openid offline_access profile email api"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: How many of the provider's last lines `output` gives.
OUTPUT_LINES = 200
HTTP_TIMEOUT = 10.0
MAX_LOGIN_STEPS = 20
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class ProviderError(RuntimeError):
    """The test provider could not be started or refused an admin request."""


class ProviderLoginError(RuntimeError):
    """The provider's login pages did not lead back to the client's redirect URI."""


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at the test provider."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    metadata: dict[str, Any] = field(repr=False)

    def nevis_settings(self, issuer: str, **extra: Any) -> dict[str, Any]:
        """The NevisAuth configuration of a Jupyter server using this client."""
        return {
            "issuer": issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scopes": ["openid", "offline_access", "profile", "api"],
            # oidc-provider issues refresh tokens for offline_access only with prompt=consent.
            "extra_authorize_params": {"prompt": "consent"},
            **extra,
        }


class ProviderTimeout(ProviderError):
    """The provider did not print READY in time."""


def process_state(pid: int) -> str:
    """What a process is doing, from /proc (Linux), for a failure message."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""
    lines = [line for line in status if line.startswith(("State:", "SigBlk:", "Threads:"))]
    return "\nProcess: " + "; ".join([*lines, f"wchan: {wchan}"])


class OIDCTestProvider:
    """A real oidc-provider as a node subprocess; each instance has its own port, keys and state."""

    def __init__(
        self,
        port: int = 0,
        *,
        node: str = "node",
        device_flow: bool = False,
        login_first: bool = False,
        dpop: bool = False,
        par: bool | str = False,
        key_auth: bool = False,
    ) -> None:
        """Prepare a provider on `port` (0 picks a free one on first start); call start().

        With `device_flow` it offers the device authorization grant (RFC 8628); clients that
        use it are registered with DEVICE_CODE among their grant_types. With `login_first` a
        signed-out browser is sent to a login page before its authorization request is
        checked, as django-oauth-toolkit does. With `dpop` it binds tokens to the DPoP key
        of a request that carries a proof (RFC 9449), and requires its nonce in each proof.
        With `par` it takes pushed authorization requests (RFC 9126); par="required" also
        says in discovery that it requires them. With `key_auth` it offers private_key_jwt
        client authentication (clients registered with jwks or jwks_uri).
        """
        self.port = port
        self.node = node
        self.device_flow = device_flow
        self.login_first = login_first
        self.dpop = dpop
        self.par = par
        self.key_auth = key_auth
        self.issuer = ""
        self._process: Process | None = None
        # What the last process printed, once stopped.
        self._last_output = ""
        # Keys, clients and tokens survive stop()/start(), as for a real outage.
        self._state_dir: str | None = None

    def __enter__(self) -> OIDCTestProvider:
        """Start the provider."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the provider and remove its saved state."""
        self.close()

    @property
    def running(self) -> bool:
        """Whether the provider process is alive."""
        return self._process is not None and self._process.running

    @property
    def discovery_url(self) -> str:
        """URL of the OpenID Connect discovery document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        """URL of the provider's public signing keys."""
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def authorization_endpoint(self) -> str:
        """Nevis-style authorization endpoint."""
        return f"{self.issuer}/auth/oauth2/authorize"

    @property
    def token_endpoint(self) -> str:
        """Nevis-style token endpoint."""
        return f"{self.issuer}/auth/oauth2/token"

    @property
    def revocation_endpoint(self) -> str:
        """Nevis-style revocation endpoint."""
        return f"{self.issuer}/auth/oauth2/revoke"

    @property
    def userinfo_endpoint(self) -> str:
        """Userinfo endpoint."""
        return f"{self.issuer}/auth/oauth2/userinfo"

    @property
    def end_session_endpoint(self) -> str:
        """Nevis-style logout endpoint (RP-initiated logout)."""
        return f"{self.issuer}/sso/logout"

    def start(self) -> None:
        """Start node and wait until it listens (on the same port again after stop())."""
        if self.running:
            return
        if shutil.which(self.node) is None:
            raise ProviderError(
                f"{self.node!r} not found: Node.js 20+ is needed to run {SERVER_SCRIPT}"
            )
        try:
            self._start_once()
        except ProviderTimeout as first:
            # A node that never prints READY: once a Node 20 deadlock in exporting the signing
            # key (server.mjs now avoids it). A second node starts normally; should both
            # hang, say what the first was doing.
            try:
                self._start_once()
            except ProviderError as second:
                raise ProviderError(f"{first}\nThen again: {second}") from second

    def _start_once(self) -> None:
        """One node process, until READY or STARTUP_TIMEOUT."""
        if self._state_dir is None:
            self._state_dir = tempfile.mkdtemp(prefix="oidc-test-provider-")
        state_file = os.path.join(self._state_dir, "state.json")
        command = [self.node, str(SERVER_SCRIPT), "--port", str(self.port), "--state", state_file]
        if self.device_flow:
            command.append("--device-flow")
        if self.login_first:
            command.append("--login-first")
        if self.dpop:
            command.append("--dpop")
        if self.par:
            command.append("--require-par" if self.par == "required" else "--par")
        if self.key_auth:
            command.append("--key-auth")
        process = Process(
            "the OIDC test provider",
            command,
            cwd=PROVIDER_DIR,
            log_file=Path(self._state_dir) / "provider.log",
        )
        self._process = process
        process.start()
        try:
            issuer = process.wait_for_line("READY ", STARTUP_TIMEOUT)[6:].strip()
        except ProcessError:
            exit_code = process.returncode
            state = process_state(process.pid) if exit_code is None else ""
            self.stop()
            error = ProviderTimeout if exit_code is None else ProviderError
            raise error(self._startup_failure(exit_code) + state) from None
        self.issuer = issuer
        self.port = int(issuer.rsplit(":", 1)[1])

    def _startup_failure(self, exit_code: int | None) -> str:
        """Explain why the provider did not come up (exit_code None: it timed out)."""
        output = self.output or "(no output)"
        if exit_code is None:
            reason = f"did not print READY within {STARTUP_TIMEOUT:.0f} s"
        else:
            reason = f"exited with code {exit_code}"
        message = f"the OIDC test provider {reason}.\nOutput:\n{output}"
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            message += f"\nHint: node_modules is missing; run `npm ci` in {PROVIDER_DIR}"
        return message

    @property
    def output(self) -> str:
        """The provider's recent stdout and stderr lines (of its last start)."""
        if self._process is None:
            return self._last_output
        return "\n".join(self._process.output.splitlines()[-OUTPUT_LINES:])

    def stop(self) -> None:
        """Stop the process (SIGTERM, state saved) and wait for it to exit."""
        if self._process is None:
            return
        self._last_output = self.output
        self._process.stop(STOP_TIMEOUT)
        self._process = None

    def close(self) -> None:
        """Stop the provider and forget its state: the next start() is a fresh provider."""
        self.stop()
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a /__test__/ admin endpoint and return its JSON answer."""
        if not self.running:
            raise ProviderError("the OIDC test provider is not running")
        with requests.request(
            method, f"{self.issuer}/__test__/{path}", timeout=HTTP_TIMEOUT, **kwargs
        ) as resp:
            if resp.status_code >= 400:
                raise ProviderError(f"{method} /__test__/{path}: {resp.status_code} {resp.text}")
            return resp.json()

    def add_client(
        self,
        redirect_uris: list[str] | str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        token_endpoint_auth_method: str = "client_secret_basic",
        grant_types: list[str] | None = None,
        access_token_ttl: int | None = None,
        id_token_ttl: int | None = None,
        refresh_token_ttl: int | None = None,
        rotate_refresh_token: bool = False,
        echo_refresh_token: bool = True,
        jwt_access_token: bool = True,
        narrow_refresh: bool = True,
        token_exchange: bool = True,
        refresh_reuse_grace: float | None = None,
        **metadata: Any,
    ) -> RegisteredClient:
        """Register (or replace) a confidential client; extra keyword arguments are metadata.

        narrow_refresh=False refuses refresh requests that name a resource
        (invalid_target) or a scope (invalid_scope); token_exchange=False refuses
        token exchange with unauthorized_client. refresh_reuse_grace: seconds after its first
        use in which a rotated refresh token is taken again (rotated once more), as by a
        provider with a reuse grace period; without, its reuse ends the grant.
        """
        uris = [redirect_uris] if isinstance(redirect_uris, str) else list(redirect_uris)
        body: dict[str, Any] = {
            **metadata,
            "client_id": client_id or f"client-{secrets.token_hex(6)}",
            "client_secret": client_secret or secrets.token_urlsafe(24),
            "redirect_uris": uris,
            "post_logout_redirect_uris": post_logout_redirect_uris or [],
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "grant_types": grant_types or ["authorization_code", "refresh_token", TOKEN_EXCHANGE],
            "access_token_ttl": access_token_ttl,
            "id_token_ttl": id_token_ttl,
            "refresh_token_ttl": refresh_token_ttl,
            "rotate_refresh_token": rotate_refresh_token,
            "echo_refresh_token": echo_refresh_token,
            "jwt_access_token": jwt_access_token,
            "narrow_refresh": narrow_refresh,
            "token_exchange": token_exchange,
            "refresh_reuse_grace": refresh_reuse_grace,
        }
        registered = self._admin("POST", "clients", json=body)
        return RegisteredClient(
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            redirect_uris=registered["redirect_uris"],
            metadata=registered,
        )

    def revoke_grants(self, client_id: str) -> int:
        """End every grant of the client at the provider, as an administrator would."""
        return int(self._admin("POST", "grants/revoke", json={"client_id": client_id})["revoked"])

    def delay_token_answers(self, client_id: str, seconds: float) -> None:
        """Hold the token endpoint's answers to a client back `seconds` after acting on them."""
        self._admin("POST", "token_delay", json={"client_id": client_id, "seconds": seconds})

    def stats(self, client_id: str | None = None) -> dict[str, Any]:
        """Request counters for one client (all clients when None)."""
        params = {} if client_id is None else {"client_id": client_id}
        result: dict[str, Any] = self._admin("GET", "stats", params=params)
        return result

    def token_calls(self, client_id: str | None = None, grant_type: str | None = None) -> int:
        """Total token endpoint requests, optionally for one grant type."""
        token = self.stats(client_id)["token"]
        if grant_type is not None:
            return int(token.get(grant_type, {}).get("total", 0))
        return sum(int(counter["total"]) for counter in token.values())

    def reset_stats(self) -> None:
        """Zero all request counters."""
        self._admin("POST", "stats/reset")


class _FormParser(HTMLParser):
    """Collect the forms (action, fields) and links of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                {"action": values.get("action", ""), "id": values.get("id", ""), "fields": {}}
            )
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["fields"][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def _parse(html: str) -> _FormParser:
    """Parse an HTML page."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser


def _describe(resp: requests.Response) -> str:
    """Short description of an unexpected provider page, for error messages."""
    text = (
        " ".join(_parse(resp.text).text)
        if "html" in resp.headers.get("content-type", "")
        else resp.text
    )
    return f"{resp.status_code} at {resp.url}: {text[:500]}"


def provider_login(
    authorize_url: str,
    username: str,
    password: str = "secret",
    *,
    redirect_prefix: str,
    session: requests.Session | None = None,
    deny: bool = False,
) -> str:
    """Sign in on the devInteractions login and consent pages; return the redirect to the client.

    The returned URL starts with `redirect_prefix` and carries code, state and iss
    (or error=...); it is never fetched. With deny=True the consent (or login) is
    aborted, which the provider reports as error=access_denied.
    """
    own_session = session is None
    http = requests.Session() if session is None else session
    try:
        url = authorize_url
        for _ in range(MAX_LOGIN_STEPS):
            with http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT) as resp:
                url = _next_login_step(resp, username, password, redirect_prefix, http, deny)
            if url.startswith(redirect_prefix):
                return url
        raise ProviderLoginError(f"no redirect to {redirect_prefix} after {MAX_LOGIN_STEPS} steps")
    finally:
        if own_session:
            http.close()


def _next_login_step(
    resp: requests.Response,
    username: str,
    password: str,
    redirect_prefix: str,
    http: requests.Session,
    deny: bool,
) -> str:
    """Answer one provider page; return the next URL to visit (or the final redirect)."""
    if resp.is_redirect:
        return urljoin(resp.url, resp.headers["Location"])
    if resp.status_code != 200:
        raise ProviderLoginError(f"unexpected provider answer {_describe(resp)}")
    page = _parse(resp.text)
    for form in page.forms:
        if form["action"].startswith(redirect_prefix):
            raise ProviderLoginError(
                "the provider answered with response_mode=form_post, which is not supported here"
            )
        prompt = form["fields"].get("prompt")
        if prompt not in ("login", "consent"):
            continue
        if deny:
            abort = next((link for link in page.links if "/abort" in link), None)
            if abort is None:
                raise ProviderLoginError(f"no abort link on the {prompt} page {_describe(resp)}")
            return urljoin(resp.url, abort)
        data = {"prompt": prompt}
        if prompt == "login":
            data.update(login=username, password=password)
        with http.post(
            urljoin(resp.url, form["action"]),
            data=data,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        ) as posted:
            if not posted.is_redirect:
                raise ProviderLoginError(f"the {prompt} form was not accepted: {_describe(posted)}")
            return urljoin(posted.url, posted.headers["Location"])
    raise ProviderLoginError(f"no login or consent form in {_describe(resp)}")


def provider_logout(
    end_session_url: str, *, session: requests.Session, confirm: bool = True
) -> str:
    """Answer the provider's sign-out page; return the URL it redirects to, unfetched.

    That is the client's post_logout_redirect_uri (with state) when the logout
    request named one, else the provider's own "signed out" page.
    """
    with session.get(end_session_url, allow_redirects=False, timeout=HTTP_TIMEOUT) as resp:
        if resp.is_redirect:
            return urljoin(resp.url, resp.headers["Location"])
        if resp.status_code != 200:
            raise ProviderLoginError(f"unexpected provider answer {_describe(resp)}")
        form = next((f for f in _parse(resp.text).forms if f["id"] == "op.logoutForm"), None)
        if form is None:
            raise ProviderLoginError(f"no sign-out form in {_describe(resp)}")
        action = urljoin(resp.url, form["action"])
    data = dict(form["fields"])
    if confirm:
        data["logout"] = "yes"
    with session.post(action, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT) as posted:
        if not posted.is_redirect:
            raise ProviderLoginError(f"the sign-out form was not accepted: {_describe(posted)}")
        return urljoin(posted.url, posted.headers["Location"])
