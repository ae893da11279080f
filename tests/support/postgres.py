"""A throwaway PostgreSQL server (Debian's postgresql) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest

from tests.support.process import free_port


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL program, on PATH or where Debian's packages put it."""
    return shutil.which(name) or next(iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)


class PostgresServer:
    """A cluster of its own that can be stopped and started again, as a database restart."""

    def __init__(self) -> None:
        initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("PostgreSQL (Debian package postgresql) is not installed")
        self.pg_ctl = pg_ctl
        # PostgreSQL refuses to run as root: run it as Debian's postgres user in its own folder.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.data = Path(tempfile.mkdtemp(prefix="nevis-pg-"))
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        init = [*self.as_user, initdb, "-D", str(self.data), "-A", "trust", "-U", "nevis"]
        subprocess.run([*init, "--no-sync"], check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        """Its SQLAlchemy URL."""
        return f"postgresql+psycopg://nevis@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """Whether the server runs now."""
        status = [*self.as_user, self.pg_ctl, "-D", str(self.data), "status"]
        return subprocess.run(status, capture_output=True, timeout=30, check=False).returncode == 0

    def start(self) -> None:
        """Start the server (unless it runs) and wait until it takes connections."""
        if self.running:
            return
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *self.as_user,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self) -> None:
        """Stop the server at once, dropping every connection."""
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )

    def remove(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def running_postgres() -> Iterator[PostgresServer]:
    """A started PostgresServer for a fixture, removed afterwards; fails in CI without one."""
    try:
        server = PostgresServer()
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: `make postgres` installs Debian's postgresql.")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql).")
    try:
        server.start()
        yield server
    finally:
        server.remove()
