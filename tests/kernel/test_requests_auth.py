"""BearerAuth: the token on each request, one refresh and retry after a 401."""

from __future__ import annotations

from tests.conftest import Browser
from tests.kernel.conftest import Kernel, revoke_access_token, sha, stored
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer


async def test_bearer_auth_refreshes_and_retries_once_after_a_401(
    kernel: Kernel,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
    oidc_provider: OIDCTestProvider,
    oidc_client,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await revoke_access_token(jp_serverapp)
    resource_server.reset()

    values = await kernel.values(f"""
        response = requests.get({resource_server.hello_url!r}, auth=BearerAuth(), timeout=10)
        out(code=response.status_code, history=[r.status_code for r in response.history],
            sub=response.json().get("sub"), token=sha(get_access_token()))
    """)

    assert values["code"] == 200
    assert values["history"] == [401]
    assert values["sub"] == username
    assert resource_server.stats() == {"requests": 2, "unauthorized": 1}
    assert oidc_provider.token_calls(oidc_client.client_id, "refresh_token") == 1
    assert values["token"] == sha((await stored(jp_serverapp)).access_token)

    values = await kernel.values("""
        url, seen = serve(401)
        refused = requests.get(url, auth=BearerAuth(), timeout=10)
        # A redirect to another host: requests drops the token, and no retry may add it back.
        elsewhere, seen_elsewhere = serve(401)
        redirecting, _ = serve(302, location=elsewhere)
        redirected = requests.get(redirecting, auth=BearerAuth(), timeout=10)
        out(code=refused.status_code, seen=seen, redirected=redirected.status_code,
            seen_elsewhere=seen_elsewhere)
    """)
    assert values["code"] == 401
    assert values["seen"] == ["Bearer ", "Bearer "]
    assert values["redirected"] == 401
    assert values["seen_elsewhere"] == [""]
