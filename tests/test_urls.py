"""URL helpers: next-URLs stay on this server, provider URLs are https, logs see no query."""

from __future__ import annotations

import pytest

from jupyter_nevis_auth.core import urls


def test_both_apps_pages_are_made_by_one_page_paths():
    server = urls.extension_pages("/user/a%40b/")
    service = urls.PagePaths("/services/nevis-auth/")
    assert server.login() == "/user/a%40b/nevis/login" == urls.login_url("/user/a%40b/")
    assert service.login("/hub/home") == "/services/nevis-auth/login?next=%2Fhub%2Fhome"
    assert server.url(urls.CALLBACK, origin="https://h") == "https://h/user/a%40b/nevis/callback"
    assert service.url(urls.LOGOUT, {"provider": "p"}, origin="https://h") == (
        "https://h/services/nevis-auth/logout?provider=p"
    )
    assert server.url(urls.LOGIN) == "/user/a%40b/" + urls.LOGIN_PATH


#: The hooks that say where an app's pages are, made from its page_paths alone.
URL_HOOKS = ("login_url", "callback_url", "link_page", "link_done", "return_url", "status_of")


def test_neither_app_computes_its_own_page_urls():
    """Each app says only where its pages are (page_paths); every URL of a page, the redirect
    URI and the status's sign-in links are made from that by web/'s one implementation."""
    from tornado import web

    from jupyter_nevis_auth.hub.service.app import HANDLERS
    from jupyter_nevis_auth.server import default_handlers

    own = {
        f"{cls.__name__}.{hook}": where
        for _path, cls in [*default_handlers, *HANDLERS]
        if issubclass(cls, web.RequestHandler)
        for hook in URL_HOOKS
        if hasattr(cls, hook)
        and not (where := getattr(cls, hook).__module__).startswith("jupyter_nevis_auth.web.")
    }
    assert own == {}


@pytest.mark.parametrize(
    "next_url, expected",
    [
        ("/base/lab/tree/x.ipynb", "/base/lab/tree/x.ipynb"),
        ("/base/lab?reset", "/base/lab?reset"),
        (None, "/base/"),
        ("", "/base/"),
        ("https://evil.example/", "/base/"),
        ("//evil.example/base/", "/base/"),
        ("/\\evil.example", "/base/"),
        ("/base/../../etc", "/base/"),
        ("/base/%2e%2e/x", "/base/"),
        ("/other/", "/base/"),
        ("/base/\r\nSet-Cookie: x", "/base/"),
        ("javascript:alert(1)", "/base/"),
    ],
)
def test_safe_next(next_url: str | None, expected: str):
    assert urls.safe_next(next_url, "/base/") == expected


def test_login_url_and_join():
    assert urls.login_url("/base/") == "/base/nevis/login"
    assert urls.login_url("/base/", "/base/x") == "/base/nevis/login?next=%2Fbase%2Fx"
    assert urls.join("/", "nevis/login") == "/nevis/login"
    assert urls.with_query("https://op/authorize?tenant=a", {"x": "1 2"}) == (
        "https://op/authorize?tenant=a&x=1%202"
    )


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://login.example/", None),
        ("http://127.0.0.1:8080/op", None),
        ("http://localhost/op", None),
        ("http://login.example/", "must use https://"),
        ("ftp://login.example/", "must be an https:// URL"),
        ("https://login.example/?a=1", "query string"),
        ("https://login.example:99999/", "not a valid URL"),
    ],
)
def test_check_url(url: str, problem: str | None):
    found = urls.check_url(url, "NevisAuth.issuer")
    assert (found is None) if problem is None else (problem in (found or "")), found


def test_strip_query():
    assert urls.strip_query("https://h/cb?code=abc&state=x#f") == "https://h/cb"
