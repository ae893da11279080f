"""Step-up at the server: a token asked for with acr_values or max_age, its sign-in at the real
provider (with its second-factor page), and a sign-in below what was asked refused."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import jwt
import pytest
import requests

from jupyter_nevis_auth.core import step_up
from jupyter_nevis_auth.core.apis import ApiSpec, parse_apis
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.errors import AccessDeniedError, RequestError
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


SALES = ApiSpec("sales", scopes=("sales.read",), acr_values=("gold",), max_age=300)


def test_a_request_asking_nothing_more_keeps_the_spec():
    assert step_up.demanded(SALES, "default", {}) is SALES
    assert step_up.demanded(None, "default", {"acr_values": "", "max_age": ""}) is None


def test_a_scope_parameter_adds_scopes_to_a_named_api_only():
    # For an ad hoc token or the provider's own, scope= names the token itself, not an addition.
    assert step_up.demanded(None, "default", {"scope": "x"}) is None
    spec = step_up.demanded(SALES, "default", {"scope": "sales.write  sales.read"})
    assert spec is not None
    assert (spec.scopes, spec.added_scopes) == (("sales.read", "sales.write"), ("sales.write",))
    # What the API asks of the sign-in up front stays when the request adds nothing to it.
    assert (spec.acr_values, spec.max_age) == (("gold",), 300)


def test_a_requests_acr_values_and_max_age_replace_the_apis_own():
    spec = step_up.demanded(SALES, "default", {"acr_values": "silver  bronze", "max_age": "0"})
    assert spec is not None
    # max_age=0 (a sign-in just now) is a value, not an absent one.
    assert (spec.acr_values, spec.max_age, spec.added_scopes) == (("silver", "bronze"), 0, ())


def test_the_provider_tokens_step_up_is_an_unnamed_api_of_that_provider():
    spec = step_up.demanded(None, "partner", {"max_age": "60"})
    assert spec is not None
    assert (spec.name, spec.provider, spec.scopes, spec.max_age) == ("", "partner", (), 60)
    assert not spec.narrowed  # so it is served by the provider's own sign-in


@pytest.mark.parametrize("max_age", ["soon", "-1", "1.5", " 5"])
def test_a_malformed_max_age_is_a_sentence(max_age):
    with pytest.raises(RequestError, match="max_age must be a whole number of seconds"):
        step_up.demanded(None, "default", {"max_age": max_age})


def tokens(scope: tuple[str, ...] = (), **claims: Any) -> TokenSet:
    return TokenSet("at", scope=scope, claims=claims)


@pytest.mark.parametrize(
    ("spec", "held", "problem"),
    [
        (ApiSpec("plain"), tokens(), None),
        (ApiSpec("a", acr_values=("gold", "silver")), tokens(acr="silver"), None),
        (
            ApiSpec("a", acr_values=("gold",)),
            tokens(acr="bronze"),
            "The API a needs a new sign-in: a sign-in at the level gold was asked for, and the "
            "provider signed you in at the level bronze; sign in again and complete the "
            "stronger sign-in the provider offers (a second factor, say).",
        ),
        (
            ApiSpec("", acr_values=("gold", "silver")),
            tokens(),
            "The API needs a new sign-in: a sign-in at the level gold or silver was asked for, "
            "and your sign-in did not ask for one, so the provider did not say which it "
            "reached; sign in again and complete the stronger sign-in the provider offers (a "
            "second factor, say).",
        ),
        # Ages are taken when the test runs (a function), not when the module is collected.
        (ApiSpec("a", max_age=60), lambda: tokens(auth_time=int(time.time()) - 10), None),
        (
            ApiSpec("a", max_age=60),
            lambda: tokens(auth_time=int(time.time()) - 600),
            # A second may pass before the check: the age is 600 s or a little more.
            re.compile(
                r"The API a needs a new sign-in: a sign-in within the last 60 s was asked for, "
                r"and yours was 60\d s ago; sign in again\."
            ),
        ),
        (
            ApiSpec("a", max_age=60),
            tokens(auth_time=True),
            "The API a needs a new sign-in: a sign-in within the last 60 s was asked for, and "
            "the provider did not say when you signed in (no auth_time); sign in again.",
        ),
        (
            ApiSpec("a", scopes=("r", "w"), added_scopes=("w",), acr_values=("gold",)),
            tokens(("r",), acr="bronze"),
            "The API a asks for the scope w, which your token lacks; sign in for it.",
        ),
        (ApiSpec("a", scopes=("r", "w"), added_scopes=("w",)), tokens(("w", "r")), None),
    ],
)
def test_unmet_says_what_the_sign_in_lacks_first_the_scope(spec, held, problem):
    said = step_up.unmet(spec, held() if callable(held) else held)
    if isinstance(problem, re.Pattern):
        assert said is not None and problem.fullmatch(said), said
    else:
        assert said == problem


async def test_a_sign_in_older_than_max_age_is_refused_when_it_finishes(jp_serverapp: Any):
    # Within the clock skew, but no token could be handed out from it: a waiting cell would
    # wait for nothing.
    service = jp_serverapp.web_app.settings["nevis_auth"]
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    answer = {"access_token": "at", "token_type": "Bearer", "expires_in": 300}
    claims = {"sub": "alice", "auth_time": int(time.time()) - 70}
    with pytest.raises(AccessDeniedError, match=r"^This sign-in is not used: .* 7\d s ago"):
        await service.sign_ins.keep(owner, "default", ApiSpec("", max_age=30), answer, claims)
    assert await service.tokens.store.get(owner) is None
    assert service.refused_sign_in(owner, "default")["refusal"].startswith(
        "This sign-in is not used"
    )
