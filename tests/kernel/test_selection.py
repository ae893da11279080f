"""Which token a kernel asks for, each cached on its own, and which token a request's URL gets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests

from jupyter_nevis_auth import kernel as kernel_api
from jupyter_nevis_auth.errors import LoginRequiredError, NoAPIForURLError
from jupyter_nevis_auth.kernel import client
from jupyter_nevis_auth.kernel.selection import DEFAULT, Selection, from_params, select
from jupyter_nevis_auth.protocol import LOGIN_REQUIRED, ApisAnswer
from tests.kernel.conftest import CannedServer

TOKEN = "/nevis/api/token"


@pytest.mark.parametrize(
    ("keywords", "selection", "params"),
    [
        ({}, None, None),
        ({"provider": "default"}, DEFAULT, {}),
        ({"api": "sales"}, Selection(api="sales"), {"api": "sales"}),
        ({"provider": "partner"}, Selection(provider="partner"), {"provider": "partner"}),
        ({"scopes": "b a b"}, Selection(scope="a b"), {"scope": "a b"}),
        (
            {"scopes": ["b", "a"], "provider": "partner"},
            Selection(provider="partner", scope="a b"),
            {"provider": "partner", "scope": "a b"},
        ),
        (
            {"resource": "https://r.example", "audience": "aud"},
            Selection(resource="https://r.example", audience="aud"),
            {"resource": "https://r.example", "audience": "aud"},
        ),
        ({"scopes": []}, DEFAULT, {}),
    ],
)
def test_keywords_choose_a_selection_and_its_parameters(
    keywords: dict[str, Any], selection: Selection | None, params: dict[str, str] | None
):
    chosen = select(**keywords)

    assert chosen == selection
    if chosen is not None:
        assert chosen.params() == params
        assert from_params(chosen.params()) == chosen


@pytest.mark.parametrize(
    ("keywords", "phrase"),
    [
        ({"api": "sales", "scopes": "x"}, "pass api= alone"),
        ({"api": "sales", "provider": "partner"}, "pass api= alone"),
        ({"api": ""}, "api must be the name of an API"),
        ({"scopes": ["a b"]}, "scopes must be scope names without spaces"),
        ({"scopes": [""]}, "scopes must be scope names without spaces"),
        ({"resource": ""}, "resource must be a non-empty string"),
        ({"provider": "", "scopes": "a"}, "provider must be a non-empty string"),
    ],
)
def test_contradictory_or_empty_keywords_are_refused_before_any_request(
    keywords: dict[str, Any], phrase: str
):
    with pytest.raises(ValueError, match=phrase):
        kernel_api.get_access_token(**keywords)


def token(value: str) -> dict[str, Any]:
    return {"access_token": value, "expires_in": 600, "claims": {"sub": value}}


def test_each_selection_has_its_own_request_and_cache(canned_server: CannedServer):
    canned_server.answer(200, token("default"))
    canned_server.answer(200, token("sales"), f"{TOKEN}?api=sales&min_ttl=60")
    canned_server.answer(200, token("adhoc"), f"{TOKEN}?provider=p&scope=a+b&min_ttl=60")

    tokens = [
        kernel_api.get_access_token(api="sales"),
        kernel_api.get_access_token(),
        kernel_api.get_access_token(scopes=["b", "a"], provider="p"),
        kernel_api.get_access_token(api="sales"),
        kernel_api.get_access_token(scopes="a b", provider="p"),
        kernel_api.get_access_token(provider="default"),
    ]

    assert tokens == ["sales", "default", "adhoc", "sales", "adhoc", "default"]
    assert [path for _, path, _ in canned_server.seen] == [
        f"{TOKEN}?api=sales&min_ttl=60",
        f"{TOKEN}?min_ttl=60",
        f"{TOKEN}?provider=p&scope=a+b&min_ttl=60",
    ]
    client.sign_out()
    assert client.cached_token(0.0, Selection(api="sales")) is None


def test_a_401_names_the_api_its_scopes_and_where_to_sign_in(canned_server: CannedServer):
    canned_server.answer(
        401,
        {
            "error": LOGIN_REQUIRED,
            "message": "The provider gives no token for sales.",
            "api": "sales",
            "provider": "default",
            "scopes": ["sales.read"],
            "login_url": "/nevis/login?api=sales",
        },
    )

    with pytest.raises(LoginRequiredError) as raised:
        kernel_api.get_access_token(api="sales")

    error = raised.value
    assert str(error) == (
        "The provider gives no token for sales. Sign in for the API sales (sales.read) at "
        "/nevis/login?api=sales, then run this again."
    )
    assert (error.api, error.provider, error.scopes) == ("sales", "default", ["sales.read"])
    assert (error.login_url, error.request) == ("/nevis/login?api=sales", {"api": "sales"})


@pytest.fixture
def two_apis(canned_server: CannedServer) -> str:
    """The canned server as two APIs under its own origin, sales/ and models/; its origin."""
    origin = canned_server.url.removesuffix(TOKEN)
    apis: ApisAnswer = {
        "apis": [
            {
                "name": name,
                "urls": [f"{origin}/{name}"],
                "provider": "default",
                "scopes": [f"{name}.read"],
                "resource": None,
                "audience": None,
            }
            for name in ("sales", "models")
        ],
        "default_for_unlisted_urls": False,
    }
    canned_server.answer(200, apis, f"{TOKEN}/apis")  # type: ignore[arg-type]
    canned_server.answer(200, token("default"))
    for name in ("sales", "models"):
        canned_server.answer(200, token(name), f"{TOKEN}?api={name}&min_ttl=60")
        canned_server.answer(
            200, token(f"{name}-2"), f"{TOKEN}?api={name}&min_ttl=60&force_refresh=1"
        )
    return origin


def sent(canned_server: CannedServer, prefix: str) -> list[str]:
    """The Authorization headers of the requests below `prefix`."""
    return [auth for path, auth in canned_server.authorizations if path.startswith(prefix)]


def test_bearer_auth_sends_each_url_its_apis_token_and_asks_for_the_apis_once(
    canned_server: CannedServer, two_apis: str
):
    http = kernel_api.session()
    http.get(f"{two_apis}/sales/orders?x=1")
    http.get(f"{two_apis}/models/m1")
    requests.get(f"{two_apis}/sales", auth=kernel_api.BearerAuth(), timeout=10)
    with pytest.raises(NoAPIForURLError) as raised:
        http.get(f"{two_apis}/salesX/orders?secret=1")

    assert sent(canned_server, "/sales") == ["Bearer sales", "Bearer sales"]
    assert sent(canned_server, "/models") == ["Bearer models"]
    assert sent(canned_server, "/salesX") == []
    assert str(raised.value).startswith(f"No API of this server serves {two_apis}/salesX/orders,")
    assert [path for _, path, _ in canned_server.seen].count(f"{TOKEN}/apis") == 1


def test_keywords_override_the_url(canned_server: CannedServer, two_apis: str):
    requests.get(f"{two_apis}/elsewhere", auth=kernel_api.BearerAuth(api="models"), timeout=10)
    kernel_api.session(provider="default").get(f"{two_apis}/sales")

    assert sent(canned_server, "/elsewhere") == ["Bearer models"]
    assert sent(canned_server, "/sales") == ["Bearer default"]


def test_a_401_refreshes_the_token_of_the_api_that_was_refused(
    canned_server: CannedServer, two_apis: str
):
    canned_server.answer(401, b"{}", "/sales/orders")

    response = kernel_api.session().get(f"{two_apis}/sales/orders")

    assert [r.status_code for r in (*response.history, response)] == [401, 401]
    assert sent(canned_server, "/sales") == ["Bearer sales", "Bearer sales-2"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_httpx_auth_routes_by_url_too(flavour: str, canned_server: CannedServer, two_apis: str):
    auth = kernel_api.HTTPXBearerAuth()
    canned_server.answer(401, b"{}", "/models/m")

    async def both() -> None:
        async with httpx.AsyncClient(auth=auth) as http:
            await http.get(f"{two_apis}/sales/s")
            await http.get(f"{two_apis}/models/m")

    if flavour == "sync":
        httpx.get(f"{two_apis}/sales/s", auth=auth)
        httpx.get(f"{two_apis}/models/m", auth=auth)
    else:
        asyncio.run(both())
    with pytest.raises(NoAPIForURLError):
        httpx.get(f"{two_apis}/other", auth=auth)

    assert sent(canned_server, "/sales") == ["Bearer sales"]
    assert sent(canned_server, "/models") == ["Bearer models", "Bearer models-2"]
    assert sent(canned_server, "/other") == []


def test_a_server_without_an_apis_endpoint_gives_every_url_the_default_token(
    canned_server: CannedServer,
):
    origin = canned_server.url.removesuffix(TOKEN)
    canned_server.answer(200, token("default"))
    canned_server.answer(404, b"<html>Not found</html>", f"{TOKEN}/apis")

    kernel_api.session().get(f"{origin}/anything")

    assert sent(canned_server, "/anything") == ["Bearer default"]
