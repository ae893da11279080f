"""Step-up at the server: a token asked for with acr_values or max_age, its sign-in at the real
provider (with its second-factor page), and a sign-in below what was asked refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import jwt
import requests

from jupyter_nevis_auth.apis import parse_apis
from tests import test_waits
from tests.support.provider import HTTP_TIMEOUT, _parse, provider_login

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
