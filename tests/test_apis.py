"""NevisAuth.apis and NevisAuth.providers: what is accepted, and one sentence for what is not."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jupyter_nevis_auth.core.apis import ApiSpec, adhoc, parse_apis, split_key, token_key
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.providers import build_providers

PROVIDERS = {"default", "partner"}
GOOD = {
    "sales": {
        "url": "https://sales.example/api/",
        "scopes": ["sales.read"],
        "resource": "https://sales.example",
    },
    "models": {
        "url": ["https://models.example/v1", "https://models.example/v2"],
        "scopes": "models.read models.write",
        "provider": "partner",
        "token_exchange": True,
    },
}


def test_good_apis_are_parsed():
    specs, problems = parse_apis(GOOD, PROVIDERS)
    assert problems == []
    assert specs["sales"] == ApiSpec(
        "sales",
        "default",
        ("sales.read",),
        "https://sales.example",
        None,
        ("https://sales.example/api/",),
        False,
    )
    assert specs["models"].scopes == ("models.read", "models.write")
    assert specs["models"].provider == "partner" and specs["models"].token_exchange


BAD = [
    ({"x": {"url": "https://a.example", "provider": "nobody"}}, 'NevisAuth.apis["x"].provider'),
    ({"x": {"url": "https://a.example", "resource": "not a uri"}}, "absolute URI"),
    ({"x": {"url": "https://a.example", "resource": "https://a.example#frag"}}, "RFC 8707"),
    ({"x": {"url": "http://a.example"}}, "must use https://"),
    ({"x": {}}, 'NevisAuth.apis["x"].url must be a URL'),
    ({"x": {"url": "https://a.example", "scopes": [1]}}, "scopes must be a list"),
    ({"x": {"url": "https://a.example", "colour": "red"}}, "colour is not an option"),
    ({"x": "https://a.example"}, "must be an object"),
    ({"bad name!": {"url": "https://a.example"}}, "an API name is"),
    ({"x": {"url": "https://a.example", "token_exchange": "yes"}}, "true or false"),
]


@pytest.mark.parametrize("raw, phrase", BAD, ids=[b[1] for b in BAD])
def test_a_bad_api_is_left_out_with_one_sentence_naming_the_option(raw: Any, phrase: str):
    specs, problems = parse_apis({**raw, "ok": {"url": "https://ok.example"}}, PROVIDERS)
    assert list(specs) == ["ok"]
    assert len(problems) == 1 and phrase in problems[0], problems
    assert problems[0].endswith("the API is left out.")


def test_overlapping_url_prefixes_are_refused():
    raw = {"a": {"url": "https://Api.example:443/v1/"}, "b": {"url": "https://api.example/v1"}}
    specs, problems = parse_apis(raw, PROVIDERS)
    assert list(specs) == ["a"]
    assert "also the URL of a" in problems[0]


def test_nested_prefixes_are_fine():
    raw = {"a": {"url": "https://api.example/"}, "b": {"url": "https://api.example/v2"}}
    assert parse_apis(raw, PROVIDERS)[1] == []


def test_apis_that_are_not_an_object():
    assert parse_apis(["x"], PROVIDERS) == (
        {},
        ["NevisAuth.apis must be an object of named APIs; no API is configured."],
    )


def test_keys_keep_the_default_sign_in_where_it_always_was():
    assert token_key("alice") == "alice"
    assert split_key("alice") == ("alice", "default", None)
    assert split_key(token_key("alice", "partner")) == ("alice", "partner", None)
    spec = adhoc("default", ["b", "a", "a"], "https://r.example", None)
    assert split_key(token_key("alice", "default", spec.key)) == ("alice", "default", spec.key)
    assert ApiSpec.from_key("default", spec.key) == spec
    assert spec.scopes == ("a", "b")


def test_env_var_apis_and_providers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEVIS_AUTH_APIS", '{"sales": {"url": "https://sales.example"}}')
    monkeypatch.setenv("NEVIS_AUTH_PROVIDERS", '{"partner": {"issuer": "https://p.example"}}')
    monkeypatch.setenv("NEVIS_AUTH_PARTNER_CLIENT_ID", "partner-client")
    monkeypatch.setenv("NEVIS_AUTH_PARTNER_CLIENT_SECRET", "partner-secret")
    config = NevisAuth(issuer="https://op.example", client_id="c", client_secret="s")
    assert config.apis == {"sales": {"url": "https://sales.example"}}
    providers, problems = build_providers(config, logging.getLogger("test"))
    assert problems == []
    partner = providers["partner"].config
    assert (partner.issuer, partner.client_id) == ("https://p.example", "partner-client")
    assert partner.get_client_secret() == "partner-secret"
    assert partner.http_timeout == config.http_timeout


def test_a_named_provider_never_inherits_the_top_level_secret(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEVIS_AUTH_CLIENT_SECRET", "the-default-providers-secret")
    config = NevisAuth(
        issuer="https://op.example",
        client_id="c",
        providers={"partner": {"issuer": "https://p.example", "client_id": "p"}},
    )
    providers, problems = build_providers(config, logging.getLogger("test"))
    assert "partner" not in providers
    assert problems == [
        'Set NevisAuth.providers["partner"].client_secret (or $NEVIS_AUTH_PARTNER_CLIENT_SECRET, '
        "or $NEVIS_AUTH_PARTNER_CLIENT_SECRET_FILE for a mounted secret file); the provider is "
        "left out."
    ]


@pytest.mark.parametrize(
    "entry, phrase",
    [
        (
            {"issuer": "https://p.example", "client_id": "p", "client_secret": "s", "apis": {}},
            "cannot set apis",
        ),
        ({"issuer": "http://p.example", "client_id": "p", "client_secret": "s"}, "https://"),
        (
            {"issuer": "https://p.example", "client_id": "p", "client_secret": "s", "scopes": 5},
            "wrong type",
        ),
        ("https://p.example", "must be an object"),
    ],
)
def test_a_bad_provider_is_left_out_and_the_rest_works(entry: Any, phrase: str):
    config = NevisAuth(
        issuer="https://op.example", client_id="c", client_secret="s", providers={"partner": entry}
    )
    providers, problems = build_providers(config, logging.getLogger("test"))
    assert list(providers) == ["default"]
    assert len(problems) == 1 and phrase in problems[0], problems
