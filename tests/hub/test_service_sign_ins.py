"""Sign-ins under way at the service: each hub user's own, and kept across a restart.

The unit tests use the real database store (SQLite) and files; the others a real JupyterHub
running the service (tests/hub/service_config.py) and the real test provider. Tests of the
hub share it, in file order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from jupyter_nevis_auth.core import pending as flow
from jupyter_nevis_auth.core.apis import ApiSpec
from jupyter_nevis_auth.core.pending import PendingLogins
from jupyter_nevis_auth.errors import SettingsError
from jupyter_nevis_auth.hub.service.cookie_secret import load_cookie_secret
from jupyter_nevis_auth.hub.service.pending_store import keep_pending, take_back_pending
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet
from tests.hub.harness import HubBrowser
from tests.hub.service_harness import SERVICE, ServiceHub
from tests.support.hub import HubSpec
from tests.support.provider import RegisteredClient, provider_login

pytestmark = pytest.mark.hub

LOG = logging.getLogger(__name__)
SALES = ApiSpec("sales", scopes=("sales.read",), resource="https://sales", urls=("https://s/",))


def test_each_owner_has_max_pending_sign_ins_of_their_own() -> None:
    pending = PendingLogins(ttl=60)
    alices = pending.start("https://h/cb", "/", owner="alice")
    bobs = [pending.start("https://h/cb", "/", owner="bob") for _ in range(flow.MAX_PENDING + 5)]
    assert pending.peek(alices.state) is alices
    assert pending.peek(bobs[4].state) is None and pending.peek(bobs[5].state) is bobs[5]
    assert len(pending) == flow.MAX_PENDING + 1


def test_sign_ins_under_way_are_kept_encrypted_and_taken_back_once(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = SQLTokenStore(f"sqlite:///{tmp_path / 't.sqlite'}", make_fernet(key))
    before = PendingLogins(ttl=60)
    plain = before.start("https://h/cb", "/user/alice/lab", owner="alice")
    for_api = before.start("https://h/cb", "/", "partner", SALES, owner="bob")
    expired = before.start("https://h/cb", "/", owner="carol")
    object.__setattr__(expired, "created", time.monotonic() - 61)
    assert asyncio.run(keep_pending(store, before)) == 2
    assert plain.code_verifier.encode() not in (tmp_path / "t.sqlite").read_bytes()

    after = PendingLogins(ttl=60)
    assert asyncio.run(take_back_pending(store, after)) == 2
    for login in (plain, for_api):
        back = after.peek(login.state)
        assert back is not None and back.api == login.api
        assert dataclasses.replace(back, created=login.created) == login
        assert abs(back.created - login.created) < 1
    # Used once: a second start finds nothing, and another key reads nothing.
    assert asyncio.run(take_back_pending(store, PendingLogins(ttl=60))) == 0
    asyncio.run(keep_pending(store, after))
    other = SQLTokenStore(
        store.engine.url.render_as_string(False), make_fernet(Fernet.generate_key().decode())
    )
    assert asyncio.run(take_back_pending(other, PendingLogins(ttl=60))) == 0


def test_the_cookie_secret_file_is_made_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "nevis_auth_hub_cookie_secret"
    secret = load_cookie_secret("", str(path), LOG)
    assert len(secret) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_cookie_secret("", str(path), LOG) == secret
    assert load_cookie_secret("ab" * 32, str(path), LOG) == bytes.fromhex("ab" * 32)
    assert load_cookie_secret("", "", LOG) != load_cookie_secret("", "", LOG)


@pytest.mark.parametrize(
    ("given", "content", "mode", "sentence"),
    [
        ("", "ab" * 32, 0o644, "can be read or written by anybody"),
        ("", "not hex", 0o600, "holds no hexadecimal secret"),
        ("xyz", None, None, "is not hexadecimal"),
    ],
)
def test_an_unusable_cookie_secret_is_refused_with_one_sentence(
    tmp_path: Path, given: str, content: str | None, mode: int | None, sentence: str
) -> None:
    path = tmp_path / "secret"
    if content is not None and mode is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(SettingsError, match=sentence):
        load_cookie_secret(given, str(path), LOG)


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """One hub with the service for the module."""
    return HubSpec(kind="service", name="sign-ins-hub")


def signed_in_to_the_hub(hub: ServiceHub, name: str) -> Iterator[HubBrowser]:
    """A hub user's browser, signed in to the hub."""
    with hub.browser(name) as browser:
        browser.log_in()
        yield browser


@pytest.fixture(scope="module")
def alice(hub: ServiceHub) -> Iterator[HubBrowser]:
    """alice's browser."""
    yield from signed_in_to_the_hub(hub, "alice")


@pytest.fixture(scope="module")
def bob(hub: ServiceHub) -> Iterator[HubBrowser]:
    """bob's browser."""
    yield from signed_in_to_the_hub(hub, "bob")


def start_sign_in(hub: ServiceHub, browser: HubBrowser) -> str:
    """The service's login page, up to the provider; returns the URL the provider sends back."""
    response, visited = browser.follow(SERVICE + "login?next=" + SERVICE + "done")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    return provider_login(
        response.headers["Location"],
        browser.name,
        redirect_prefix=hub.redirect_uri,
        session=browser.provider,
    )


def finishes(browser: HubBrowser, callback: str) -> None:
    """The callback of a sign-in ends signed in, at the service's done page."""
    page, visited = browser.follow(callback)
    assert visited[-1].endswith(SERVICE + "done"), f"{page.status_code}: {page.text}"
    assert page.status_code == 200 and "Signed in as" in page.text


def test_one_users_sign_ins_do_not_crowd_out_anothers(
    hub: ServiceHub, alice: HubBrowser, bob: HubBrowser
) -> None:
    callback = start_sign_in(hub, alice)
    for _ in range(flow.MAX_PENDING + 1):
        response, _ = bob.follow(SERVICE + "login")
        assert response.is_redirect
    finishes(alice, callback)


def test_a_sign_in_started_before_a_restart_finishes_after_it(
    hub_and_client: tuple[ServiceHub, RegisteredClient], alice: HubBrowser
) -> None:
    hub, client = hub_and_client
    callback = start_sign_in(hub, alice)
    hub.stop()
    hub.start(client.client_id, client.client_secret)
    finishes(alice, callback)
    secret = hub.work_dir / "nevis_auth_hub_cookie_secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    # Under the hub's umask of 022 (tests/hub/harness.py), which would have made it 0644.
    assert (hub.work_dir / "nevis_auth_hub.sqlite").stat().st_mode & 0o777 == 0o600
    log = hub.log()
    kept = re.findall(r"(\d+) sign-ins under way at the last stop", log)
    assert kept[0] == "0" and int(kept[-1]) >= 1  # the first start, and the one after the stop
    assert secret.read_text().strip() not in log
