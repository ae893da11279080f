"""No token, code, client secret or verifier in a log line, a page, a status answer or a notebook.

The provider knows every secret of the flow: the client secret, each code it issued,
each access, refresh and ID token, and each verifier it received. The test runs a
sign-in, a refresh, a logout and failing sign-ins with debug logging on, then looks
for any of them, or any 16-character piece of one, everywhere the product writes to.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from tests.conformance.conftest import sign_in, status
from tests.conformance.fake_op import FakeOP

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PIECE = 16

#: What a leaked secret looks like when the test cannot know its value.
TOKEN_SHAPES = {
    "JWT": re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*"),
    "bearer header": re.compile(r"Bearer\s+[\w.~+/-]{16,}"),
    "token field": re.compile(
        r"""["']?(access|refresh|id)_token["']?\s*[:=]\s*["']?[\w.~+/-]{16,}"""
    ),
    "client secret": re.compile(r"""client_secret["']?\s*[:=]\s*["']?[^\s"'\\]{8,}"""),
    "verifier": re.compile(r"""code_verifier["']?\s*[:=]\s*["']?[\w.~-]{16,}"""),
    "code in a URL": re.compile(r"[?&]code=[\w.~-]{10,}"),
}


def pieces(secret: str) -> set[str]:
    """Overlapping pieces of `secret`, so a truncated or partly quoted leak is found too."""
    if len(secret) <= PIECE:
        return {secret}
    return {secret[i : i + PIECE] for i in range(0, len(secret) - PIECE + 1, PIECE // 2)} | {
        secret[-PIECE:]
    }


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """Where each secret (or a piece of it) shows up, as "secret in place" lines."""
    found = []
    for name, secret in secrets.items():
        for piece in pieces(secret):
            found += [f"{name} in {where}" for where, text in texts.items() if piece in text]
    return sorted(set(found))


def describe(response: HTTPResponse) -> str:
    """Status line, headers and body of a response, as one text to scan."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.get_all())
    return f"{response.code}\n{headers}\n\n{response.body.decode('utf-8', 'replace')}"


@pytest.fixture
def nevis_config(op: FakeOP, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The secret comes from the environment: in a config file, Jupyter's debug dump shows it."""
    monkeypatch.setenv("NEVIS_AUTH_CLIENT_SECRET", op.client_secret)
    return {
        "issuer": op.issuer,
        "client_id": op.client_id,
        "scopes": ["openid", "offline_access", "profile"],
        "http_timeout": 1.0,
    }


async def test_no_secret_in_logs_pages_or_status(
    browser, op: FakeOP, jp_serverapp, caplog: pytest.LogCaptureFixture, jp_logging_stream
):
    nevis_log = jp_serverapp.web_app.settings["nevis_auth"].log
    for name in (None, nevis_log.name, "tornado.access", "tornado.application", "tornado.general"):
        caplog.set_level(logging.DEBUG, logger=name)
    op.expires_in = 0  # so that the status call refreshes
    texts: dict[str, str] = {}

    async def record(step: str, response: HTTPResponse) -> None:
        texts[f"{step} response"] = describe(response)
        texts[f"status after {step}"] = json.dumps(await status(browser))

    await record("sign-in", await sign_in(browser, op))
    await record("refresh", await browser.get("nevis", "api", "status"))
    refreshes = [c for c in op.calls("token") if c.args["grant_type"] == "refresh_token"]
    assert refreshes, "the status call did not refresh"
    logout = await browser.fetch(
        "nevis", "logout", method="POST", body="", follow_redirects=False, raise_error=False
    )
    await record("logout", logout)
    assert op.calls("revoke"), "the logout revoked nothing"
    op.login_claims = {"nonce": "not-the-nonce-of-this-sign-in"}
    await record("failing sign-in", await sign_in(browser, op))
    op.login_claims = {}
    op.token_errors = {"authorization_code": (400, "invalid_grant")}
    await record("refused code", await sign_in(browser, op))

    for when in ("setup", "call"):
        for i, rec in enumerate(caplog.get_records(when)):
            texts[f"log line {when}/{i} ({rec.name})"] = rec.getMessage() + (rec.exc_text or "")
    texts["server log stream"] = jp_logging_stream.getvalue()
    secrets = op.secrets()
    assert len(secrets) >= 12, sorted(secrets)
    assert leaks(texts, secrets) == []


def notebook_paths() -> list[Path]:
    """The example notebooks shipped in notebooks/."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.skipif(not notebook_paths(), reason="notebooks/ holds no example notebook yet")
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_example_notebooks_hold_no_secret(path: Path):
    text = path.read_text(encoding="utf-8")
    found = [
        f"{kind}: {m.group(0)[:24]}..."
        for kind, shape in TOKEN_SHAPES.items()
        for m in shape.finditer(text)
    ]
    assert found == []
