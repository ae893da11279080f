"""Step-up at the server: a token asked for with acr_values or max_age, its sign-in at the real
provider (with its second-factor page), and a sign-in below what was asked refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import jwt
import requests

from jupyter_nevis_auth.apis import parse_apis
from tests import test_waits
from tests.conftest import Browser
from tests.support.provider import HTTP_TIMEOUT, _parse, provider_login
from tests.test_waits import Call

# The kernel endpoints' fixture of the waits' tests, for these tests too.
kernel_call = test_waits.kernel_call

SECOND_FACTOR = "urn:nevis:test:second-factor"
PASSWORD = "urn:nevis:test:password"


def acr_of(answer: dict[str, Any]) -> str:
    """The acr the provider put in the answer's access token (the API reads it there)."""
    return str(jwt.decode(answer["access_token"], options={"verify_signature": False})["acr"])


def sign_in_with_factor(authorize: str, username: str, redirect_prefix: str, factor: str) -> str:
    """The provider's login form, then its second-factor page (`code` or `skip`); the callback."""
    with requests.Session() as http:
        response = http.get(authorize, timeout=HTTP_TIMEOUT)
        form = next(f for f in _parse(response.text).forms if f["fields"].get("prompt") == "login")
        data = {"prompt": "login", "login": username, "password": "secret"}
        response = http.post(urljoin(response.url, form["action"]), data=data, timeout=HTTP_TIMEOUT)
        assert "Second factor" in response.text, response.text[:300]
        second = _parse(response.text).forms[0]
        data = {"login": username, "code": "123456", "factor": factor}
        posted = http.post(
            urljoin(response.url, second["action"]),
            data=data,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        after = urljoin(posted.url, posted.headers["Location"])
        return provider_login(after, username, redirect_prefix=redirect_prefix, session=http)


def test_acr_values_and_max_age_are_api_options_and_checked():
    apis, problems = parse_apis(
        {
            "ok": {"url": "https://a.test/", "acr_values": "gold silver", "max_age": 300},
            "bad": {"url": "https://b.test/", "acr_values": [1], "max_age": -1},
        },
        ["default"],
    )
    assert (apis["ok"].acr_values, apis["ok"].max_age) == (("gold", "silver"), 300)
    assert "bad" not in apis
    assert any("acr_values must be a list" in p for p in problems)
    assert any("max_age must be a whole number" in p for p in problems)


async def test_a_token_asked_with_acr_values_waits_for_the_second_factor(
    kernel_call: Call,
    browser: Browser,
    redirect_uri: str,
    username: str,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, plain = await kernel_call("", min_ttl="0")
    assert code == 200 and acr_of(plain) == PASSWORD

    code, body = await kernel_call("", min_ttl="0", acr_values=SECOND_FACTOR)
    assert code == 401, body
    assert f"a sign-in at the level {SECOND_FACTOR} was asked for" in body["message"]
    assert body["message"].startswith("The API needs a new sign-in")
    login = urlparse(body["login_url"])
    assert parse_qs(login.query)["acr_values"] == [SECOND_FACTOR]

    authorize = await browser.start_login_for("acr_values", SECOND_FACTOR)
    assert parse_qs(urlparse(authorize).query)["acr_values"] == [SECOND_FACTOR]
    callback = await asyncio.to_thread(
        sign_in_with_factor, authorize, username, redirect_uri, "code"
    )
    assert (await browser.callback(callback)).code == 302

    code, stepped = await kernel_call("", min_ttl="0", acr_values=SECOND_FACTOR)
    assert code == 200, stepped
    assert acr_of(stepped) == SECOND_FACTOR
    # The sign-in replaced the provider's: its plain token is the stronger one now.
    code, plain = await kernel_call("", min_ttl="0")
    assert plain["access_token"] == stepped["access_token"]


async def test_a_sign_in_below_the_asked_level_is_refused_and_ends_the_wait(
    kernel_call: Call,
    browser: Browser,
    redirect_uri: str,
    username: str,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    _code, before = await kernel_call("", min_ttl="0")
    authorize = await browser.start_login_for("acr_values", SECOND_FACTOR)
    wait = asyncio.ensure_future(
        kernel_call("wait", seconds="20", acr_values=SECOND_FACTOR, since=f"{time.time():.3f}")
    )
    callback = await asyncio.to_thread(
        sign_in_with_factor, authorize, username, redirect_uri, "skip"
    )
    response = await browser.callback(callback)
    assert response.code == 403
    assert b"This sign-in is not used: a sign-in at the level" in response.body
    code, body = await asyncio.wait_for(wait, 30)
    assert code == 200 and body["ready"] is False
    assert body["refusal"].startswith("This sign-in is not used")
    # Nothing was kept: the token held is the one from before.
    _code, after = await kernel_call("", min_ttl="0")
    assert after["access_token"] == before["access_token"]
