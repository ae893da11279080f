"""Sign-ins under way at the service, kept in its database while it restarts.

A sign-in's state, nonce and PKCE verifier live in the service's memory until its callback
comes. At stop they are written, encrypted with NevisAuth.store_key, to a table of their own;
at the next start they are read back and deleted from it (a state is used once only), and
those that have not expired (NevisAuth.state_ttl) finish as if nothing happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import Column, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine

from ...core.apis import ApiSpec
from ...core.pending import PendingLogin, PendingLogins
from .sql_store import SQLTokenStore, metadata, row_id

pending_table = Table(
    "nevis_auth_pending",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
)


def login_data(login: PendingLogin) -> dict[str, Any]:
    """A sign-in as plain data; when it started, on the wall clock (its own is monotonic)."""
    data = dataclasses.asdict(login)
    data["started_at"] = time.time() - (time.monotonic() - data.pop("created"))
    return data


def spec_of(api: dict[str, Any] | None) -> ApiSpec | None:
    """An API spec from its plain data (dataclasses.asdict), None for None."""
    if api is None:
        return None
    # JSON has no tuples: the spec's sequences (scopes, urls, acr_values, …) come back as lists.
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in api.items()}
    return ApiSpec(**fields)


def login_of(data: dict[str, Any]) -> PendingLogin:
    """The inverse of login_data, in this process's monotonic clock."""
    spec = spec_of(data.pop("api"))
    created = time.monotonic() - (time.time() - float(data.pop("started_at")))
    return PendingLogin(**data, api=spec, created=created)


async def keep_pending(store: SQLTokenStore, pending: PendingLogins) -> int:
    """Write the sign-ins under way to the database; returns how many."""
    rows = [
        (row_id(login.state), store.fernet.encrypt(json.dumps(login_data(login)).encode()))
        for login in pending.live()
    ]
    await asyncio.to_thread(_replace, store.engine, [(i, c.decode("ascii")) for i, c in rows])
    return len(rows)


async def take_back_pending(store: SQLTokenStore, pending: PendingLogins) -> int:
    """Restore the sign-ins kept at the last stop, and delete them there; returns how many."""
    for ciphertext in await asyncio.to_thread(_take_all, store.engine):
        try:
            login = login_of(json.loads(store.fernet.decrypt(ciphertext.encode("ascii"))))
        except (InvalidToken, ValueError, TypeError, KeyError, AttributeError):
            continue  # another key, or damaged: that sign-in is started again
        pending.restore(login)
    return len(pending.live())


def _replace(engine: Engine, rows: list[tuple[str, str]]) -> None:
    pending_table.create(engine, checkfirst=True)
    with engine.begin() as db:
        db.execute(delete(pending_table))
        if rows:
            db.execute(insert(pending_table), [{"id": i, "ciphertext": c} for i, c in rows])


def _take_all(engine: Engine) -> list[str]:
    pending_table.create(engine, checkfirst=True)
    with engine.begin() as db:
        texts = list(db.execute(select(pending_table.c.ciphertext)).scalars())
        db.execute(delete(pending_table))
    return texts
