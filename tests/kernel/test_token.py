"""Tokens show redacted in a notebook; their value is there for HTTP headers."""

from __future__ import annotations

from tests.conftest import Browser
from tests.kernel.conftest import Kernel, sha, stored


async def test_tokens_show_redacted(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)

    shown = await kernel.run("token = get_access_token()\ntoken")
    listed = await kernel.run("[token, get_id_token()]")
    values = await kernel.values(
        "out(str=sha(str(token)), f=sha(f'{token}'), repr=repr(token), id=repr(get_id_token()))"
    )

    assert shown.result.startswith("<access token, expires in ")
    assert shown.result.endswith(" s>")
    assert tokens.access_token not in shown.result
    assert tokens.access_token not in listed.result and tokens.id_token not in listed.result
    assert values["str"] == values["f"] == sha(tokens.access_token)
    assert values["repr"].startswith("<access token, expires in ")
    assert values["id"].startswith("<ID token, expires in ")
