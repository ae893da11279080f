"""Device sign-ins: the provider's device authorization answer is checked field by field, and
the kernel endpoint offers them only when configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_nevis_auth.errors import ProviderError
from jupyter_nevis_auth.oidc.device_grant import DEFAULT_INTERVAL, MAX_INTERVAL, device_code
from jupyter_nevis_auth.protocol import DEVICE_FLOW_UNAVAILABLE, secret_header

GOOD = {
    "device_code": "d" * 40,
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://op.example/device",
    "verification_uri_complete": "https://op.example/device?user_code=WDJB-MJHT",
    "expires_in": 600,
}


def test_a_good_answer_is_read_with_the_default_interval():
    code = device_code(GOOD)
    assert (code.user_code, code.expires_in, code.interval) == ("WDJB-MJHT", 600, DEFAULT_INTERVAL)
    assert code.verification_uri_complete == GOOD["verification_uri_complete"]
    assert "d" * 40 not in repr(code)
    assert device_code({**GOOD, "interval": 10**6}).interval == MAX_INTERVAL


@pytest.mark.parametrize(
    "change",
    [
        {"device_code": None},
        {"device_code": ""},
        {"user_code": 42},
        {"user_code": "A" * 65},
        {"user_code": "AB\x1bCD"},
        {"verification_uri": "javascript:alert(1)"},
        {"verification_uri": "http://op.example/device"},
        {"verification_uri": None},
        {"expires_in": None},
        {"expires_in": 0},
        {"expires_in": "600"},
        {"expires_in": True},
        {"interval": -1},
        {"interval": "5"},
    ],
)
def test_a_malformed_answer_is_refused(change: dict[str, Any]):
    with pytest.raises(ProviderError, match="malformed"):
        device_code({**GOOD, **change})


def test_an_unusable_complete_uri_is_left_out():
    assert (
        device_code({**GOOD, "verification_uri_complete": "data:,x"}).verification_uri_complete
        is None
    )


async def test_device_sign_ins_are_offered_only_when_configured(jp_fetch, jp_serverapp):
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    headers = secret_header(secret)
    started = await jp_fetch(
        "nevis",
        "api",
        "token",
        "device",
        method="POST",
        body="",
        headers=headers,
        raise_error=False,
    )
    assert started.code == 400
    assert json.loads(started.body)["error"] == DEVICE_FLOW_UNAVAILABLE
    unknown = await jp_fetch(
        "nevis", "api", "token", "device", params={"id": "nope"}, headers=headers, raise_error=False
    )
    assert unknown.code == 404
    refused = await jp_fetch(
        "nevis", "api", "token", "device", method="POST", body="", raise_error=False
    )
    assert refused.code == 403
