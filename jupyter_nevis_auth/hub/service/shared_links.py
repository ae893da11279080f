"""One-time links and device sign-ins, shared by the service's replicas through their database.

A link is written (encrypted with NevisAuth.store_key, by its token's fingerprint) as it is
issued, so that its page may be opened at any replica: opening it reads the row, using it
takes the row, which uses the link up for every replica. A device sign-in is polled for by the
replica that started it, which writes how it goes (never the device code); any replica reads
that for the kernel, and giving it up at any replica deletes the row, which ends the polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine

from ...core.device_signin import KEEP_ENDED, PENDING, DeviceSignIn, DeviceSignIns
from ...core.links import SignInLink, SignInLinks
from ...core.tokens import fingerprint
from ...errors import StoreUnavailableError
from ...oidc.device_grant import DeviceCode
from ...protocol import DEVICE_ID_PARAM, LINK_TOKEN_PARAM
from .link_api import DeviceAPIHandler, LinkHandler
from .pending_store import spec_of
from .replicas import ARRIVAL_POLL, ARRIVAL_WAIT, put_row
from .sql_store import SQLTokenStore

metadata = MetaData()
links_table = Table(
    "nevis_auth_links",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
devices_table = Table(
    "nevis_auth_device_sign_ins",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
waits_table = Table(
    "nevis_auth_waits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("who", String(64), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
DATA_ERRORS = (InvalidToken, ValueError, TypeError, KeyError, AttributeError)


class SharedLinks:
    """Writes this replica's links and device sign-ins to the database; reads any replica's."""

    def __init__(
        self,
        store: SQLTokenStore,
        links: SignInLinks,
        devices: DeviceSignIns,
        log: logging.Logger,
    ) -> None:
        self.store, self.links, self.devices, self.log = store, links, devices, log
        #: Links and device sign-ins under way written to the database, by fingerprint: gone
        #: from there, they were used up or given up at another replica.
        self._written: set[str] = set()
        self._writing: set[asyncio.Task[None]] = set()
        metadata.create_all(store.engine)
        links.issued = self.issued
        links.revoked = lambda key: self._later(self._call(_delete, links_table, key))
        devices.changed = self.device_changed
        links.cells.changed = self.wait_changed
        devices.wanted = self.device_wanted

    def issued(self, key: str, link: SignInLink) -> None:
        """Write the link `key` as it is handed out."""
        api = dataclasses.asdict(link.api) if link.api else None
        data = {"owner": link.owner, "provider": link.provider, "api": api}
        self._later(self._write(links_table, key, data, link.expires, key))

    async def link(self, token: str, *, take: bool) -> None:
        """Before a link's page looks: the link of `token` here if it is live anywhere, else
        nowhere; taken (used up for every replica) if `take`."""
        if not token:
            return
        key = fingerprint(token)
        waited = 0.0
        try:
            while (data := await self._call(_take if take else _read, links_table, key)) is None:
                # Opened at once, a link may be here before the replica that issued it wrote it.
                if key in self._written or self.links.peek(token) or waited >= ARRIVAL_WAIT:
                    break
                await asyncio.sleep(ARRIVAL_POLL)
                waited += ARRIVAL_POLL
        except StoreUnavailableError:
            return  # the store has said so; this replica's own links still work
        if data is None:
            if key in self._written:
                self._written.discard(key)
                self.links.drop(key)
            return
        with contextlib.suppress(*DATA_ERRORS):
            link = SignInLink(
                data["owner"], data["provider"], spec_of(data["api"]), data["expires"]
            )
            self.links.restore(key, link)
        # A copy read here is dropped once the row is gone: used or given up elsewhere.
        (self._written.discard if take else self._written.add)(key)

    def wait_changed(self, wait: str, user: str, seconds: float) -> None:
        """Write that a cell of `user` counts as waiting for `seconds` more."""
        until = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        who = fingerprint(f"waits:{user}")
        self._later(self._wait_write(fingerprint(wait), who, until))

    async def cell_waits(self, user: str) -> None:
        """Before a link's sign-in ends here: note a cell of `user` waiting at any replica."""
        with contextlib.suppress(StoreUnavailableError):
            who = fingerprint(f"waits:{user}")
            if await self.store._call(_waiting, self.store.engine, who):
                self.links.cells.waits_elsewhere(user)

    async def _wait_write(self, wid: str, who: str, until: datetime) -> None:
        with contextlib.suppress(StoreUnavailableError):
            await self.store._call(_put_wait, self.store.engine, wid, who, until)

    def device_changed(self, sign_in: DeviceSignIn) -> None:
        """Write how the device sign-in of this replica goes."""
        code = dataclasses.asdict(sign_in.code)
        code["device_code"] = ""  # only the replica that polls needs it
        data = {"user": sign_in.user, "provider": sign_in.provider, "code": code}
        data |= {"status": sign_in.status, "message": sign_in.message}
        until, key = sign_in.deadline + KEEP_ENDED, fingerprint(sign_in.id)
        pending = sign_in.status == PENDING
        if not pending:
            self._written.discard(key)
        self._later(self._write(devices_table, key, data, until, key if pending else None))

    async def device_wanted(self, sign_in: DeviceSignIn) -> bool:
        """Whether the device sign-in is still wanted: nobody gave it up at another replica."""
        key = fingerprint(sign_in.id)
        if key not in self._written:
            return True  # never written: no other replica knows it
        with contextlib.suppress(StoreUnavailableError):
            if await self._call(_read, devices_table, key) is None:
                self._written.discard(key)
                return False
        return True

    async def device(self, user: str, sign_in_id: str, *, give_up: bool) -> None:
        """Before a device sign-in's progress is read (or it is given up): how it goes at the
        replica that polls, if not this one."""
        key = fingerprint(sign_in_id)
        try:
            data = await self._call(_take if give_up else _read, devices_table, key)
        except StoreUnavailableError:
            return
        if data is None or data.get("user") != user:
            self.devices.forget(sign_in_id)
            return
        with contextlib.suppress(*DATA_ERRORS):
            self.devices.restore(
                DeviceSignIn(
                    sign_in_id,
                    user,
                    data["provider"],
                    None,
                    DeviceCode(**data["code"]),
                    data["expires"],
                    status=data["status"],
                    message=data["message"],
                    ended=time.monotonic(),
                )
            )

    async def stop(self) -> None:
        """Let the writes under way end."""
        if self._writing:
            await asyncio.wait(list(self._writing), timeout=5)

    def _later(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _call(
        self, work: Callable[..., str | None], table: Table, key: str
    ) -> dict[str, Any] | None:
        """`work` on the row `key` of `table`; its data decrypted, with its expiry in this
        process's monotonic clock."""
        row = await self.store._call(work, self.store.engine, table, key)
        if row is None:
            return None
        try:
            data: dict[str, Any] = json.loads(self.store.fernet.decrypt(row.encode("ascii")))
            data["expires"] = time.monotonic() + float(data.pop("expires_at")) - time.time()
        except DATA_ERRORS:
            return None  # another key, or damaged: as good as gone
        return data

    async def _write(
        self, table: Table, key: str, data: dict[str, Any], expires: float, written: str | None
    ) -> None:
        at = time.time() + expires - time.monotonic()
        data = {**data, "expires_at": at}
        text = self.store.fernet.encrypt(json.dumps(data).encode()).decode("ascii")
        when = datetime.fromtimestamp(at, timezone.utc)
        try:
            await self.store._call(put_row, self.store.engine, table, key, text, when)
        except StoreUnavailableError:
            self.log.warning(
                "A sign-in link or device sign-in could not be written to the database: it "
                "works at this replica only."
            )
            return
        if written is not None:
            self._written.add(written)


def _put_wait(engine: Engine, wid: str, who: str, until: datetime) -> None:
    with engine.begin() as db:
        db.execute(delete(waits_table).where(waits_table.c.expires_at < datetime.now(timezone.utc)))
        db.execute(delete(waits_table).where(waits_table.c.id == wid))
        db.execute(insert(waits_table).values(id=wid, who=who, expires_at=until))


def _waiting(engine: Engine, who: str) -> bool:
    now = datetime.now(timezone.utc)
    with engine.begin() as db:
        live = select(waits_table.c.id).where(
            waits_table.c.who == who, waits_table.c.expires_at >= now
        )
        return db.execute(live.limit(1)).first() is not None


def _read(engine: Engine, table: Table, key: str) -> str | None:
    now = datetime.now(timezone.utc)
    with engine.begin() as db:
        live = select(table.c.ciphertext).where(table.c.id == key, table.c.expires_at >= now)
        return db.execute(live).scalar_one_or_none()


def _take(engine: Engine, table: Table, key: str) -> str | None:
    now = datetime.now(timezone.utc)
    with engine.begin() as db:
        taken = delete(table).where(table.c.id == key, table.c.expires_at >= now)
        return db.execute(taken.returning(table.c.ciphertext)).scalar_one_or_none()


def _delete(engine: Engine, table: Table, key: str) -> None:
    with engine.begin() as db:
        db.execute(delete(table).where(table.c.id == key))


class ReplicaLinkHandler(LinkHandler):
    """link, where replicas share the links: the link is read (or taken) from the database."""

    async def prepare(self) -> None:
        """Read the page's link, wherever it was issued; take it when the button is pressed."""
        await super().prepare()
        take = self.request.method == "POST"
        get = self.get_body_argument if take else self.get_query_argument
        token = get(LINK_TOKEN_PARAM, "")
        await self.settings["nevis_auth_links"].link(token, take=take)


class ReplicaDeviceAPIHandler(DeviceAPIHandler):
    """api/token/device, where replicas share device sign-ins: progress read from the database."""

    async def prepare(self) -> None:
        """Identify the calling server; then read its device sign-in, wherever it is polled."""
        await super().prepare()
        if self.request.method in ("GET", "DELETE"):
            sign_in_id = self.get_argument(DEVICE_ID_PARAM, "")
            shared = self.settings["nevis_auth_links"]
            await shared.device(self.signer(), sign_in_id, give_up=self.request.method == "DELETE")
