"""The service's database engine: a SQLite file only the service reads, a server's timeouts,
and the threads its calls run in."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import StaticPool

from ...core.secret_files import check_private, create_private
from ...errors import SettingsError

#: Seconds to wait for a connection to a database server.
CONNECT_TIMEOUT = 5
#: A database server's pooled connection unused for this long is tested before it is used.
IDLE_PING_SECONDS = 1.0


def make_engine(db_url: str) -> Engine:
    """An engine for `db_url`; an in-memory SQLite database is shared by every thread.

    A SQLite file is made, readable by the service only, before SQLite opens it, and one that
    anybody may read is refused (SettingsError): with the store key, it gives every user's
    refresh token.
    """
    url = make_url(db_url)
    options: dict[str, Any] = {"hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        # A URI filename (`file:...` with uri=true) is SQLite's own to resolve.
        elif not url.database.startswith("file:"):
            private_database_file(Path(url.database))
    else:
        # The connection returned last is used first: the others idle, and are tested.
        options.update(pool_use_lifo=True)
        if url.get_backend_name() == "postgresql":
            # Give up on a server that does not answer, so requests get a 503.
            options.update(connect_args={"connect_timeout": CONNECT_TIMEOUT})
    engine = create_engine(url, **options)
    if url.get_backend_name() != "sqlite":
        ping_idle_connections(engine)
    return engine


def autocommit(engine: Engine) -> Engine:
    """`engine` (its pool) running each statement as a transaction of its own: no BEGIN and
    COMMIT round trips to the server."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def ping_idle_connections(engine: Engine) -> None:
    """Test a pooled connection before use when it was unused for IDLE_PING_SECONDS.

    A database server that restarted leaves dead connections in the pool. Testing each one
    before every use (pool_pre_ping) costs a round trip per call; under load a connection
    is back in use within moments, and a restart meanwhile fails the calls under way, which
    makes the pool drop every connection it had (SQLAlchemy's disconnect handling). One that
    sat unused, as after a quiet spell, is tested, and a dead one drops the pool's others.
    """

    @event.listens_for(engine, "connect")
    def made(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise InvalidatePoolError(str(e)) from None


def private_database_file(file: Path) -> None:
    """Make the SQLite file `file` its owner's alone, or check that the existing one is.

    SQLite itself would make it with the umask's mode (0644 under umask 022); the journals it
    writes next to it take the database file's mode.
    """
    try:
        try:
            os.close(create_private(file))
        except FileExistsError:
            pass
        check_private(file, "database file")
    except OSError as e:
        raise SettingsError(
            f"The database file {file} cannot be made ({e.strerror or type(e).__name__}); "
            "check NevisAuthHub.db_url and the service's working directory."
        ) from e


def executor_for(engine: Engine) -> ThreadPoolExecutor | None:
    """Where `engine`'s calls run: SQLite's in one thread of their own, one after another
    (SQLite takes one writer at a time, and writers that find it busy sleep and try again,
    up to 100 ms a time); a database server's in asyncio's default executor (None)."""
    if engine.url.get_backend_name() == "sqlite":
        return ThreadPoolExecutor(1, thread_name_prefix="nevis-auth-sqlite")
    return None
