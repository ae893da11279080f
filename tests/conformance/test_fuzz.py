"""Property-based tests of the login and callback inputs and of malformed provider answers.

Properties: never a 500, never a traceback in a page, nothing stored unless the sign-in
really succeeded, and every redirect back into Jupyter stays on this server.

Each test runs NEVIS_AUTH_FUZZ_EXAMPLES examples (default 25) against one running server;
set the variable higher for a longer run, e.g. NEVIS_AUTH_FUZZ_EXAMPLES=2000.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import quote, quote_from_bytes, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.httpclient import HTTPResponse

from jupyter_nevis_auth.oidc import OIDCClient
from tests.conformance.conftest import service, sign_in, stored
from tests.conformance.fake_op import Canned, FakeOP

FUZZ = settings(
    max_examples=int(os.environ.get("NEVIS_AUTH_FUZZ_EXAMPLES", "25")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

T = TypeVar("T")

# Pieces that open redirects and header injection are made of.
REDIRECT_PIECES = [
    "/",
    "//",
    "///",
    "\\",
    "/\\",
    "\\\\",
    "http:",
    "https:",
    "javascript:",
    "data:",
    "evil.example",
    "@evil.example",
    "%2f",
    "%2F%2F",
    "%5c",
    "..",
    "/..",
    "./",
    "?",
    "#",
    ":",
    ";",
    " ",
    "\t",
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\x0c",
    "\x7f",
    "\u3002",
    "\uff0f",
    "\u2215",
    "lab/tree/x.ipynb",
    "a%40b",
    "/a%40b/",
    "/a@b/",
]

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def encode(value: str | bytes) -> str:
    """A query-string component; bytes go out as they are, valid UTF-8 or not."""
    return quote_from_bytes(value, safe="") if isinstance(value, bytes) else quote(value, safe="")


def header_safe(value: str) -> bool:
    """Whether `value` can be sent as an HTTP header value at all."""
    return all(c == "\t" or " " <= c <= "~" for c in value)


def run(loop: asyncio.AbstractEventLoop, coroutine: Awaitable[T]) -> T:
    """Run one example's coroutine on the server's event loop."""
    return loop.run_until_complete(coroutine)  # type: ignore[arg-type]


def assert_sound(response: HTTPResponse, base_url: str) -> None:
    """No 500, no traceback; a redirect (other than to the provider) stays on this server."""
    body = response.body.decode("utf-8", "replace")
    assert response.code != 500 and response.code < 600, (response.code, body)
    assert response.code in (200, 302) or response.code in (400, 403, 404, 502, 503, 504), body
    assert "Traceback" not in body and 'File "' not in body
    if response.code == 302:
        location = response.headers["Location"]
        assert all(c >= " " and c != "\x7f" for c in location)
        target = urlsplit(urljoin("http://127.0.0.1:1" + base_url, location))
        assert target.netloc == "127.0.0.1:1" and target.path.startswith(base_url), location


class Server:
    """The running server as the fuzzed examples see it."""

    def __init__(self, jp_serverapp: Any, client: Any, auth: dict[str, str], base_url: str):
        self.app = jp_serverapp
        self.client = client
        self.auth = auth
        self.base_url = base_url

    async def get(self, path: str, query: str = "", cookie: str = "") -> HTTPResponse:
        """GET a server path with a raw query string and Cookie header."""
        headers = {**self.auth, **({"Cookie": cookie} if cookie else {})}
        url = self.base_url + path + ("?" + query if query else "")
        return await self.client.fetch(  # type: ignore[no-any-return]
            url, headers=headers, follow_redirects=False, raise_error=False
        )

    async def reset(self) -> None:
        """Forget tokens and every cached provider answer between examples."""
        nevis = service(self.app)
        await nevis.tokens.store.delete(self.app.web_app.settings["nevis_auth_owner"])
        nevis.client = OIDCClient(nevis.config, log=nevis.log)


@pytest.fixture
def server(jp_serverapp, http_server_client, jp_auth_header, jp_base_url) -> Server:
    """The server under test, for sync hypothesis tests."""
    return Server(jp_serverapp, http_server_client, jp_auth_header, jp_base_url)


def test_callback_never_fails_badly(server: Server, browser, op: FakeOP, jp_asyncio_loop):
    names = st.sampled_from(["code", "state", "iss", "error", "error_description"]) | st.text(
        max_size=8
    )
    values = st.text(max_size=60) | st.binary(max_size=40) | st.just(op.issuer)

    @FUZZ
    @given(
        params=st.lists(st.tuples(names, values), max_size=6),
        real_state=st.booleans(),
        cookie=st.text(max_size=80).filter(header_safe),
        keep_cookie=st.booleans(),
    )
    def example(
        params: list[tuple[str, str | bytes]], real_state: bool, cookie: str, keep_cookie: bool
    ) -> None:
        async def check() -> None:
            await server.reset()
            browser.cookies.clear()
            query = [(k, v) for k, v in params if not (real_state and k == "state")]
            if real_state:
                authorize = await browser.start_login()
                state = authorize.split("state=", 1)[1].split("&", 1)[0]
                query.append(("state", state))
            jar = browser.cookie_header() if keep_cookie else ""
            response = await server.get(
                "nevis/callback",
                "&".join(f"{encode(k)}={encode(v)}" for k, v in query),
                "; ".join(c for c in (jar, cookie) if c),
            )
            assert_sound(response, server.base_url)
            assert response.code != 302
            assert await stored(server.app) is None

        run(jp_asyncio_loop, check())

    example()


def test_login_query_never_fails_badly(server: Server, jp_asyncio_loop):
    @FUZZ
    @given(
        params=st.lists(
            st.tuples(st.text(max_size=8), st.text(max_size=40) | st.binary()), max_size=4
        ),
        cookie=st.text(max_size=80).filter(header_safe),
    )
    def example(params: list[tuple[str, str | bytes]], cookie: str) -> None:
        async def check() -> None:
            query = "&".join(f"{encode(k)}={encode(v)}" for k, v in params)
            response = await server.get("nevis/login", query, cookie)
            body = response.body.decode("utf-8", "replace")
            assert response.code in (302, 400), (response.code, body)
            assert "Traceback" not in body
            if response.code == 302:
                assert response.headers["Location"].startswith("http://127.0.0.1:")

        run(jp_asyncio_loop, check())

    example()


def test_next_never_leaves_the_server(server: Server, browser, op: FakeOP, jp_asyncio_loop):
    crafted = st.lists(st.sampled_from(REDIRECT_PIECES), min_size=1, max_size=6).map("".join)

    @FUZZ
    @given(next_url=crafted | st.text(max_size=40) | crafted.map(lambda s: server.base_url + s))
    def example(next_url: str) -> None:
        async def check() -> None:
            await server.reset()
            response = await sign_in(browser, op, next_url)
            assert_sound(response, server.base_url)
            assert response.code == 302
            assert await stored(server.app) is not None

        run(jp_asyncio_loop, check())

    example()


def urls(op: FakeOP) -> st.SearchStrategy[Any]:
    """Endpoint values a broken discovery document may hold."""
    return (
        st.sampled_from(
            [
                "",
                "/token",
                "token",
                "ftp://127.0.0.1/token",
                "javascript:alert(1)",
                "http://127.0.0.1:1/token",
                "https://127.0.0.1:1/token",
                "http://",
                "http:///x",
                "http://[::1",
                "http://127.0.0.1:99999/x",
                op.url("jwks"),
                op.url("token"),
                op.url("userinfo"),
                op.url("nowhere"),
                op.issuer,
            ]
        )
        | JSON
    )


def bodies(op: FakeOP, endpoint: str) -> st.SearchStrategy[bytes]:
    """Broken answers of one provider endpoint: garbage, wrong JSON, and near misses."""
    real: dict[str, Any] = op.discovery() if endpoint == "discovery" else {}
    if endpoint == "discovery":
        near = st.dictionaries(st.sampled_from(sorted(real)), urls(op) | JSON, max_size=4).map(
            lambda changes: {**real, **changes}
        )
    elif endpoint == "jwks":
        key = st.fixed_dictionaries(
            {},
            optional={
                name: JSON | st.sampled_from(["RSA", "EC", "oct", "OKP", "sig", "enc", "RS256"])
                for name in ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "k")
            },
        )
        real_key = st.builds(lambda: op.jwks()["keys"][0])
        near = st.fixed_dictionaries({"keys": st.lists(key | real_key, max_size=3) | JSON})
    else:
        near = st.fixed_dictionaries(
            {},
            optional={
                "access_token": JSON | st.just("at"),
                "token_type": JSON | st.sampled_from(["Bearer", "bearer", "DPoP", "mac"]),
                "expires_in": JSON,
                "refresh_token": JSON,
                "id_token": JSON | st.just("a.b.c") | st.just("eyJhbGciOiJub25lIn0.e30."),
                "scope": JSON,
                "error": JSON | st.just("invalid_grant"),
            },
        )
    return st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        near.map(lambda v: json.dumps(v).encode()),
    )


@pytest.mark.parametrize("endpoint", ["discovery", "jwks", "token"])
def test_malformed_provider_answers_never_fail_badly(
    server: Server, browser, op: FakeOP, jp_asyncio_loop, endpoint: str
):
    @FUZZ
    @given(
        status=st.sampled_from([200, 200, 200, 400, 401, 404, 500, 503]),
        body=bodies(op, endpoint),
    )
    def example(status: int, body: bytes) -> None:
        async def check() -> None:
            await server.reset()
            browser.cookies.clear()
            op.canned = {endpoint: Canned(status, body)}
            login = await browser.get("nevis", "login")
            assert_login_sound(login)
            location = login.headers.get("Location", "")
            if login.code != 302 or not location.startswith(op.url("authorize")):
                assert await stored(server.app) is None
                return
            response = await browser.callback(await op.authorize(location))
            assert_sound(response, server.base_url)
            assert (await stored(server.app) is not None) == (response.code == 302)

        run(jp_asyncio_loop, check())

    example()


def assert_login_sound(response: HTTPResponse) -> None:
    """nevis/login either redirects to the provider or says, without a traceback, why not."""
    body = response.body.decode("utf-8", "replace")
    assert response.code in (302, 502, 503, 504), (response.code, body)
    assert "Traceback" not in body and 'File "' not in body
