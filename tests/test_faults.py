"""No grant lost to a fault: a provider answering late and a token file that cannot be written.

A real Jupyter server with the encrypted file store, the real provider with refresh-token
rotation: a refresh token works once, and its reuse ends the whole grant. After each fault
the next forced refresh must succeed and the provider must have refused no refresh.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from jupyter_nevis_auth.core.file_store import EncryptedFileTokenStore
from jupyter_nevis_auth.errors import ProviderTimeoutError
from tests import test_refresh
from tests.test_refresh import Session

# The refresh tests' view of the signed-in user and the provider.
session = test_refresh.session

#: Seconds callers wait for the provider (NevisAuth.http_timeout).
CALLER_TIMEOUT = 2.0


@pytest.fixture
def client_options() -> dict[str, Any]:
    """Rotation on: a refresh token used twice ends the grant."""
    return {"access_token_ttl": 60, "rotate_refresh_token": True}


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The encrypted file store in the test's own folder, and a short caller timeout."""
    return {
        **nevis_config,
        "http_timeout": CALLER_TIMEOUT,
        "refresh_leeway": 2,
        "token_store_class": "jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore",
        "store_key": Fernet.generate_key().decode(),
        "store_path": str(tmp_path / "tokens" / "tokens.fernet"),
    }


async def read_file(session: Session) -> Any:
    """The user's tokens as a restarted server would read them from the file."""
    return await EncryptedFileTokenStore(parent=session.service.config).get(session.user)


async def no_grant_lost(session: Session, *, refreshes: int) -> None:
    """The next forced refresh works, and the provider refused no refresh token."""
    forced = await session.current(force=True)
    assert forced.claims["sub"] == session.username
    assert session.refreshes() == {"ok": refreshes + 1, "error": 0}


async def test_a_refresh_answered_after_the_callers_gave_up_is_kept(session: Session):
    first = await session.sign_in()
    await session.expire()
    # The provider acts on the refresh at once (rotating the refresh token) but answers late.
    session.provider.delay_token_answers(session.client.client_id, CALLER_TIMEOUT + 2)
    try:
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as raised:
            await session.current()
        assert time.monotonic() - started < CALLER_TIMEOUT + 1
        assert raised.value.status_code == 504
        assert "goes on in the background" in str(raised.value)
        # A later caller joins the refresh under way instead of sending the old token again.
        with pytest.raises(ProviderTimeoutError):
            await session.current()
        await asyncio.sleep(2.5)
    finally:
        session.provider.delay_token_answers(session.client.client_id, 0)

    kept = await session.stored()
    assert kept.refresh_token != first.refresh_token
    assert kept.expires_in() > 30
    assert (await read_file(session)).refresh_token == kept.refresh_token
    assert (await session.current()).access_token == kept.access_token
    await no_grant_lost(session, refreshes=1)


async def test_a_refresh_the_file_cannot_take_is_kept_and_written_later(session: Session):
    first = await session.sign_in()
    folder = Path(session.service.tokens.store.file).parent
    await session.expire()
    # A file where the folder was: every write of the token file fails, as on a full disk.
    os.rename(folder, folder.with_name("moved"))
    folder.write_text("")
    try:
        fresh = await session.current()
        assert fresh.refresh_token != first.refresh_token
        # Answers come from memory meanwhile.
        assert (await session.current()).access_token == fresh.access_token
        assert not await session.service.tokens.store.flush()
    finally:
        folder.unlink()
        os.rename(folder.with_name("moved"), folder)
    assert (await read_file(session)).refresh_token == first.refresh_token

    # As before the server stops.
    await session.service.tokens.drain(5)

    assert (await read_file(session)).refresh_token == fresh.refresh_token
    await no_grant_lost(session, refreshes=1)
