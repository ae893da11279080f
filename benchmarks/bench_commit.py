"""How long a refresh's answer waits for its commit: the window a killed process loses it in.

With refresh-token rotation, the provider's answer holds the only refresh token that still
works. From the moment it arrives until the store has committed it, a process killed
(SIGKILL) takes that token with it, and a provider without a reuse grace period then ends
the grant at its next use (docs/jupyterhub.md, "A refresh under way at a killed replica").

Starts the test provider (rotation on) and, for each store, signs N users in through the real
AuthCore, then forces --rounds refreshes one after another. For each it times, in this
process, from the provider's answer (the token endpoint's call returns) to the end of the
store's write, and the store's write alone; and, as the baseline of the same run and
database, a bare one-row write committed alone (what any commit costs there). Stores: the
service's SQLite file (one process), and PostgreSQL shared by replicas (a lease taken
before the refresh, the write giving it back and telling the other replicas).

    python benchmarks/bench_commit.py [--rounds 300] [--users 30]

Needs PostgreSQL's server programs (`make postgres`); without them only SQLite is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The test provider's and PostgreSQL's drivers live in the test suite, which is not installed.
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks.support import REDIRECT_URI, client_config, percentile, sign_in  # noqa: E402
from jupyter_nevis_auth.core.auth import AuthCore  # noqa: E402
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet  # noqa: E402
from jupyter_nevis_auth.oidc.client import OIDCClient  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.provider import OIDCTestProvider  # noqa: E402

MS = 1000


class Marks:
    """When the last token endpoint answer came, and when the last store write began/ended."""

    def __init__(self) -> None:
        self.answer = self.write_began = self.write_ended = 0.0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Time the token endpoint's calls and the store's writes while the block runs."""
        token_request, write = OIDCClient.token_request, SQLTokenStore.set
        marks = self

        async def timed_request(client: OIDCClient, *args: Any, **kwargs: Any) -> Any:
            answer = await token_request(client, *args, **kwargs)
            marks.answer = time.perf_counter()
            return answer

        async def timed_write(store: SQLTokenStore, *args: Any) -> None:
            marks.write_began = time.perf_counter()
            await write(store, *args)
            marks.write_ended = time.perf_counter()

        OIDCClient.token_request = timed_request  # type: ignore[method-assign]
        SQLTokenStore.set = timed_write  # type: ignore[method-assign]
        try:
            yield
        finally:
            OIDCClient.token_request = token_request  # type: ignore[method-assign]
            SQLTokenStore.set = write  # type: ignore[method-assign]


def bare_commits(store: SQLTokenStore, rounds: int) -> list[float]:
    """Seconds of a one-row write committed alone, `rounds` times: the database's least."""
    with store.engine.begin() as db:
        db.execute(
            text("CREATE TABLE IF NOT EXISTS bench_commit (id INTEGER PRIMARY KEY, n INTEGER)")
        )
        db.execute(text("DELETE FROM bench_commit"))
        db.execute(text("INSERT INTO bench_commit VALUES (1, 0)"))
    times = []
    for n in range(rounds):
        began = time.perf_counter()
        with store.engine.begin() as db:
            db.execute(text("UPDATE bench_commit SET n = :n WHERE id = 1"), {"n": n})
        times.append(time.perf_counter() - began)
    return times


async def measure(
    name: str, db_url: str, shared: bool, provider: OIDCTestProvider, args: argparse.Namespace
) -> None:
    """Sign in, force the refreshes, print the window against the bare commit."""
    client = provider.add_client(REDIRECT_URI, rotate_refresh_token=True)
    config = client_config(provider, client)
    store = SQLTokenStore(
        db_url, make_fernet(Fernet.generate_key().decode()), shared=shared, parent=config
    )
    if shared:
        store.listen()
    service = AuthCore(config, store)
    users = [f"user{i}" for i in range(args.users)]
    try:
        for user in users:
            await sign_in(service, user)
        marks = Marks()
        windows, writes = [], []
        with marks.watching():
            for n in range(args.rounds):
                service.tokens.history._last_forced.clear()  # every round forces a refresh
                await service.tokens.fresh(users[n % len(users)], force=True)
                windows.append(marks.write_ended - marks.answer)
                writes.append(marks.write_ended - marks.write_began)
        bare = await asyncio.get_running_loop().run_in_executor(
            None, bare_commits, store, args.rounds
        )
    finally:
        if shared:
            await store.stop_listening()
        store.close()
    base, window, write = (statistics.median(times) for times in (bare, windows, writes))
    print(
        f"{name}: from the provider's answer to the commit p50 {window * MS:.2f} ms, "
        f"p90 {percentile(windows, 90) * MS:.2f} ms, max {max(windows) * MS:.2f} ms; "
        f"the store's write p50 {write * MS:.2f} ms"
    )
    print(
        f"  baseline, a one-row write committed alone: p50 {base * MS:.2f} ms; "
        f"the window is {window / base:.1f}x it, the write {write / base:.1f}x"
    )


async def run(args: argparse.Namespace) -> None:
    """Each store in turn, against one provider."""
    with OIDCTestProvider() as provider, tempfile.TemporaryDirectory() as work:
        sqlite_url = f"sqlite:///{Path(work) / 'bench.sqlite'}"
        await measure("SQLite, one process", sqlite_url, False, provider, args)
        try:
            postgres = PostgresServer()
        except FileNotFoundError:
            print("PostgreSQL is not installed (make postgres): not measured")
            return
        try:
            postgres.start()
            await measure("PostgreSQL, shared by replicas", postgres.url, True, provider, args)
        finally:
            postgres.remove()


def main() -> None:
    """Parse the options and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="refreshes per store")
    parser.add_argument("--users", type=int, default=30, help="users signed in per store")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
