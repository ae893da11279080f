"""Which API serves a URL: origins compared exactly, paths by segment, the longest prefix wins."""

from __future__ import annotations

import pytest

from jupyter_nevis_auth.errors import NoAPIForURLError
from jupyter_nevis_auth.kernel.api import routed
from jupyter_nevis_auth.kernel.routing import Routes, covers, place, without_query
from jupyter_nevis_auth.kernel.selection import DEFAULT, Selection
from jupyter_nevis_auth.protocol import ApiInfo, ApisAnswer


@pytest.mark.parametrize(
    ("prefix", "url", "covered"),
    [
        ("https://sales.example", "https://sales.example/orders?x=1", True),
        ("https://sales.example", "https://sales.example", True),
        ("https://sales.example/", "https://sales.example/orders", True),
        ("https://sales.example", "https://sales.example.evil.com/orders", False),
        ("https://sales.example", "https://evil.com/https://sales.example/", False),
        ("https://sales.example", "https://evil.com/?https://sales.example", False),
        ("https://sales.example", "https://sales.example@evil.com/", False),
        ("https://sales.example", "https://x.sales.example/", False),
        ("https://sales.example", "http://sales.example/", False),
        ("https://sales.example", "https://sales.example:8443/", False),
        ("https://sales.example", "https://sales.example:443/orders", True),
        ("https://sales.example:443", "https://sales.example/orders", True),
        ("http://sales.example", "http://sales.example:80/", True),
        ("http://sales.example:8080", "http://sales.example/", False),
        ("HTTPS://Sales.EXAMPLE/api", "https://sales.example/api/x", True),
        ("https://sales.example/api", "HTTPS://SALES.example/api", True),
        ("https://sales.example/api", "https://sales.example/API", False),
        ("https://sales.example/api", "https://sales.example/api", True),
        ("https://sales.example/api", "https://sales.example/api/", True),
        ("https://sales.example/api", "https://sales.example/api/v1/orders", True),
        ("https://sales.example/api", "https://sales.example/api?x=1", True),
        ("https://sales.example/api", "https://sales.example/api#top", True),
        ("https://sales.example/api", "https://sales.example/apiX", False),
        ("https://sales.example/api", "https://sales.example/api.json", False),
        ("https://sales.example/api", "https://sales.example/ap", False),
        ("https://sales.example/api", "https://sales.example/", False),
        ("https://sales.example/api", "https://sales.example/other/api", False),
        ("https://sales.example/api/", "https://sales.example/api", True),
        ("https://sales.example/api/", "https://sales.example/apiX", False),
        ("https://sales.example/api", "https://sales.example/api/../admin", False),
        ("https://sales.example/api", "https://sales.example/x/../api/orders", True),
        ("https://sales.example/api", "https://sales.example/./api/./orders", True),
        ("https://sales.example/api", "https://sales.example/%61pi", False),
        ("https://sales.example/api", "https://user:pw@sales.example/api", True),
        ("http://[::1]:8080/api", "http://[0:0::1]:8080/api/x", True),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/", False),
        ("https://bücher.example", "https://xn--bcher-kva.example/", True),
        ("https://sales.example", "ftp://sales.example/", False),
        ("https://sales.example", "https://sales.example:99999/", False),
        ("https://sales.example", "/relative/path", False),
        ("sales.example", "https://sales.example/", False),
    ],
)
def test_a_prefix_covers_its_origin_and_the_paths_below_it(prefix: str, url: str, covered: bool):
    parsed_prefix, target = place(prefix), place(url)

    assert (
        parsed_prefix is not None and target is not None and covers(parsed_prefix, target)
    ) is covered


def api(name: str, *urls: str) -> ApiInfo:
    return {
        "name": name,
        "urls": list(urls),
        "provider": "default",
        "scopes": [f"{name}.read"],
        "resource": None,
        "audience": None,
    }


ROUTES = Routes(
    {
        "apis": [
            api("sales", "https://sales.example"),
            api("sales-admin", "https://sales.example/admin/"),
            api("reports", "https://sales.example/admin/reports", "http://127.0.0.1:9000/r"),
            api("twin", "https://sales.example/admin/reports"),
            api("nowhere", "not a url", "mailto:x@example.com"),
        ],
        "default_for_unlisted_urls": False,
    }
)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://sales.example/orders", "sales"),
        ("https://sales.example/admin", "sales-admin"),
        ("https://sales.example/admin/users?id=7", "sales-admin"),
        ("https://sales.example/administrator", "sales"),
        ("https://sales.example/admin/reports/2024", "reports"),
        ("https://sales.example/admin/reportsX", "sales-admin"),
        ("http://127.0.0.1:9000/r/1", "reports"),
        ("http://127.0.0.1:9000/", None),
        ("https://sales.example.evil.com/admin", None),
        ("https://models.example/", None),
        ("not a url", None),
    ],
)
def test_the_longest_prefix_wins_and_the_first_api_listed_of_equals(url: str, name: str | None):
    assert ROUTES.api_for(url) == name


def answer(*apis: ApiInfo, default: bool) -> ApisAnswer:
    return {"apis": list(apis), "default_for_unlisted_urls": default}


@pytest.mark.parametrize(
    ("apis", "url", "selection"),
    [
        (answer(default=True), "https://anything.example/", DEFAULT),
        # With no API configured every URL gets the default token, whatever the flag says.
        (answer(default=False), "https://anything.example/", DEFAULT),
        (
            answer(api("sales", "https://sales.example"), default=True),
            "https://other.example/",
            DEFAULT,
        ),
        (
            answer(api("sales", "https://sales.example"), default=False),
            "https://sales.example/x",
            Selection(api="sales"),
        ),
    ],
)
def test_a_url_no_api_claims_gets_the_default_token_only_when_allowed(
    apis: ApisAnswer, url: str, selection: Selection
):
    assert routed(url, Routes(apis)) == selection


def test_a_url_no_api_claims_otherwise_gets_no_token_and_a_sentence_saying_why():
    routes = Routes(answer(api("sales", "https://sales.example"), default=False))

    with pytest.raises(NoAPIForURLError) as raised:
        routed("https://user:pw@other.example/v1/items?token=secret#frag", routes)

    assert str(raised.value) == (
        "No API of this server serves https://other.example/v1/items, so no token was sent; "
        "pass api= to choose one, or add its prefix to the url of an API in NevisAuth.apis."
    )
    assert raised.value.url == "https://other.example/v1/items"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://a.example/p?q=1#f", "https://a.example/p"),
        ("https://u:p@a.example:8443/p", "https://a.example:8443/p"),
        ("http://[::1]:8080/x?y", "http://[::1]:8080/x"),
        ("/relative?q", "/relative"),
    ],
)
def test_urls_in_messages_lose_their_query_and_credentials(url: str, shown: str):
    assert without_query(url) == shown
