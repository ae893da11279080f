"""The hub service's own settings (NevisAuthHub), beside NevisAuth's."""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Float, Int, Unicode

from ...core.env import EnvConfigurable
from ...core.secret_files import read_secret_file

#: Linux (5.14 and newer): 1 moves the connections waiting at a closing SO_REUSEPORT
#: listener to another listener on the port; 0, the default, resets them.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def waiting_connections_reset() -> bool:
    """Whether this host resets the connections waiting at a replica that stops (reuse_port).

    False where it cannot tell (not Linux, or a kernel without the switch).
    """
    try:
        return MIGRATE_REQ.read_text().strip() == "0"
    except OSError:
        return False


class NevisAuthHub(EnvConfigurable):
    """Settings of the JupyterHub service; each one can also come from its env var."""

    env_names = {  # noqa: RUF012 (EnvConfigurable's own class attribute)
        "db_url": "NEVIS_AUTH_HUB_DB_URL",
        "db_url_file": "NEVIS_AUTH_HUB_DB_URL_FILE",
        "hub_cache_seconds": "NEVIS_AUTH_HUB_CACHE_SECONDS",
        "auth_state": "NEVIS_AUTH_HUB_AUTH_STATE",
        "cookie_secret": "NEVIS_AUTH_HUB_COOKIE_SECRET",
        "cookie_secret_file": "NEVIS_AUTH_HUB_COOKIE_SECRET_FILE",
        "replica_cache_seconds": "NEVIS_AUTH_HUB_REPLICA_CACHE_SECONDS",
        "lease_seconds": "NEVIS_AUTH_HUB_LEASE_SECONDS",
        "reuse_port": "NEVIS_AUTH_HUB_REUSE_PORT",
    }

    db_url = Unicode(
        "sqlite:///nevis_auth_hub.sqlite",
        config=True,
        help="""SQLAlchemy URL of the database keeping every user's tokens (encrypted with
        NevisAuth.store_key): SQLite in the service's working directory by default, or e.g.
        postgresql://user@host/db with a driver installed (a password: db_url_file). The
        SQLite file is made readable by the service only, and refused when anybody may read
        it. Default: $NEVIS_AUTH_HUB_DB_URL""",
    )
    db_url_file = Unicode(
        "",
        config=True,
        help="""Path of a file holding db_url, for a URL with a password (e.g. a mounted
        Kubernetes Secret); wins over db_url. Read at start; refused when anybody may read it
        (chmod 600). Default: $NEVIS_AUTH_HUB_DB_URL_FILE""",
    )
    hub_cache_seconds = Int(
        60,
        config=True,
        help="""Seconds JupyterHub's answer about a server's token is reused: a stopped server's
        token keeps working at most this long (JupyterHub's own services reuse such answers
        for 300 s). Every token in use is asked about again within this time: shorter means
        more questions to JupyterHub. Default: $NEVIS_AUTH_HUB_CACHE_SECONDS""",
    )
    cookie_secret = Unicode(
        "",
        config=True,
        help="""The secret signing the service's cookies, in hex (`openssl rand -hex 32`);
        instead of cookie_secret_file. Default: $NEVIS_AUTH_HUB_COOKIE_SECRET""",
    )
    cookie_secret_file = Unicode(
        "nevis_auth_hub_cookie_secret",
        config=True,
        help="""File keeping the secret that signs the service's cookies, so that sign-ins under
        way survive a restart: made (readable by the service only) when missing, refused when
        others may read it; relative to the service's working directory. Empty: a new secret
        each start. Default: $NEVIS_AUTH_HUB_COOKIE_SECRET_FILE""",
    )
    auth_state = Bool(
        False,
        config=True,
        help="""Sign in once: start from the tokens the hub's OAuthenticator keeps in each user's
        auth_state (same provider and client; the service needs the scopes admin:auth_state and
        read:users:name), and answer the hub's refresh_user (jupyter_nevis_auth.hub.refresh_hook).
        Default: $NEVIS_AUTH_HUB_AUTH_STATE""",
    )

    replica_cache_seconds = Float(
        2.0,
        config=True,
        help="""On a database other processes share (PostgreSQL: the service's replicas),
        the longest a replica reuses the tokens it read: another replica's refresh or sign-out
        is seen here within this time. On PostgreSQL a replica hears the others' writes as
        they commit (LISTEN/NOTIFY) and reuses what it read until one comes, this long at
        most after the listening connection last answered. SQLite is one process's own: what
        it read is reused until it writes. Default: $NEVIS_AUTH_HUB_REPLICA_CACHE_SECONDS""",
    )
    lease_seconds = Float(
        10.0,
        config=True,
        help="""On a shared database, seconds a replica's lease on a grant's refresh lasts
        unless renewed (it is, every third of it, while the refresh runs): a replica killed
        during a refresh holds the grant up this long at most, and another replica redoes
        that refresh within about twice this time. Keep it under half of the provider's
        reuse grace period for rotated refresh tokens, if it has one. Default:
        $NEVIS_AUTH_HUB_LEASE_SECONDS""",
    )

    reuse_port = Bool(
        False,
        config=True,
        help="""Listen with SO_REUSEPORT (Linux), so that several replicas on one host share
        the port of the service's url and the kernel spreads new connections between them,
        with no load balancer in front; a replica that stops or dies leaves the port to the
        others. Give it to every replica on that port, and set the host's
        net.ipv4.tcp_migrate_req to 1: connections still waiting at a replica that stops then
        go to another instead of being reset. Default: $NEVIS_AUTH_HUB_REUSE_PORT""",
    )

    def get_db_url(self) -> str:
        """The database's URL, from db_url_file when set, else db_url; or SettingsError."""
        if self.db_url_file:
            option = f"NevisAuthHub.db_url_file (${self.env_var('db_url_file')})"
            return read_secret_file(self.db_url_file, "database URL file", option)
        return self.db_url
