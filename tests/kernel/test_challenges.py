"""Reading an API's WWW-Authenticate challenges, and the token each asks for."""

from __future__ import annotations

import pytest

from jupyter_nevis_auth.kernel.challenges import Challenge, Demand, demand_of, parse, stepped_up
from jupyter_nevis_auth.kernel.selection import DEFAULT, Selection, for_api, from_params


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Bearer realm="x"', [Challenge("bearer", {"realm": "x"})]),
        (
            'Basic realm="a, b", Bearer error="insufficient_scope", scope="x y"',
            [
                Challenge("basic", {"realm": "a, b"}),
                Challenge("bearer", {"error": "insufficient_scope", "scope": "x y"}),
            ],
        ),
        (
            'DPoP algs="ES256 PS256", error="insufficient_user_authentication", max_age=5',
            [
                Challenge(
                    "dpop",
                    {
                        "algs": "ES256 PS256",
                        "error": "insufficient_user_authentication",
                        "max_age": "5",
                    },
                )
            ],
        ),
        (
            'Bearer error_description="say \\"hi\\", then go"',
            [Challenge("bearer", {"error_description": 'say "hi", then go'})],
        ),
        ("Negotiate abc+/==, Bearer", [Challenge("negotiate", {}), Challenge("bearer", {})]),
        ('BEARER ERROR = "a" , error="b"', [Challenge("bearer", {"error": "a"})]),
        ('@@@, Bearer scope="s"', [Challenge("bearer", {"scope": "s"})]),
        ("", []),
    ],
)
def test_challenges_are_read_with_quotes_commas_and_several_schemes(header, expected):
    assert parse(header) == expected


def test_challenges_of_several_header_values_are_all_read():
    assert [c.scheme for c in parse(['Basic realm="a"', "Bearer, DPoP algs=ES256"])] == [
        "basic",
        "bearer",
        "dpop",
    ]


@pytest.mark.parametrize(
    ("status", "header", "demand"),
    [
        (
            401,
            'Bearer error="insufficient_user_authentication", '
            'acr_values="gold  silver", max_age=60',
            Demand("gold silver", "60"),
        ),
        (401, 'DPoP error="insufficient_user_authentication", max_age="0"', Demand(max_age="0")),
        (
            403,
            'Basic realm="x", Bearer error="insufficient_scope", scope="b a"',
            Demand(scope="b a"),
        ),
        (401, 'Bearer error="invalid_token"', None),
        (401, 'Bearer error="insufficient_user_authentication"', None),
        (401, 'Bearer error="insufficient_user_authentication", max_age=soon', None),
        (403, 'Bearer error="insufficient_user_authentication", acr_values="gold"', None),
        (401, 'Bearer error="insufficient_scope", scope="a"', None),
        (403, 'Basic error="insufficient_scope", scope="a"', None),
        (403, 'Bearer error="insufficient_scope"', None),
    ],
)
def test_only_a_step_up_401_or_an_insufficient_scope_403_asks_for_a_sign_in(status, header, demand):
    assert demand_of(status, header) == demand


def test_a_named_apis_challenge_names_what_it_adds_and_survives_the_round_trip():
    stepped = stepped_up(for_api("sales"), Demand("gold", "30", None))
    assert stepped.params() == {"api": "sales", "acr_values": "gold", "max_age": "30"}
    assert from_params(stepped.params()) == stepped
    scoped = stepped_up(for_api("sales"), Demand(scope="sales.write"))
    assert scoped.params() == {"api": "sales", "scope": "sales.write"}


def test_an_ad_hoc_tokens_challenge_keeps_its_scopes_and_adds_the_missing_ones():
    stepped = stepped_up(Selection(scope="a"), Demand(scope="c b"))
    assert stepped.scope == "a b c"
    assert stepped_up(DEFAULT, Demand(acr_values="gold")).params() == {"acr_values": "gold"}


def test_what_was_asked_is_said_in_words():
    assert Demand("gold", "60", "x").describe() == (
        "a sign-in at the level gold and a sign-in within the last 60 s and the scope x"
    )
