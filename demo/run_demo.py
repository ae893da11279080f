"""Run the demo: a local OpenID provider, a protected API and JupyterLab configured against them.

Usage: `make demo` (or `python demo/run_demo.py` inside the project's virtualenv).
`make demo-fapi2` (`--fapi2`): the FAPI 2.0 profile instead, as docs/high-assurance.md sets
it up: the provider takes pushed authorization requests, private_key_jwt and DPoP; the
server authenticates with a client key made for the demo and gets DPoP-bound tokens; the
API takes those only, with a proof of their key.
Environment: DEMO_PORT (JupyterLab, default 8888), DEMO_PROVIDER_PORT (default 8765).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_nevis_auth.core.client_keys import new_client_key  # noqa: E402
from tests.support.client_key_files import write_client_keys  # noqa: E402
from tests.support.provider import OIDCTestProvider  # noqa: E402
from tests.support.resource_server import ResourceServer  # noqa: E402


def fapi2_client(provider: OIDCTestProvider, redirect_uris: list[str], work: Path) -> dict:
    """A client key file in `work` and a private_key_jwt client registered with its public
    half: the FAPI 2.0 settings of the demo's server."""
    key_file = work / "client-key.json"
    public = write_client_keys(key_file, new_client_key("ES256"))
    client = provider.add_client(
        redirect_uris,
        access_token_ttl=300,
        rotate_refresh_token=True,
        token_endpoint_auth_method="private_key_jwt",  # noqa: S106 (a method, not a secret)
        jwks=public,
    )
    return {
        "NEVIS_AUTH_CLIENT_ID": client.client_id,
        "NEVIS_AUTH_CLIENT_KEY_FILE": str(key_file),
        "NEVIS_AUTH_PROFILE": "fapi2",
        "NEVIS_AUTH_DPOP": "true",
    }


def main(argv: list[str]) -> int:
    """Start everything, print where to go, and run JupyterLab until Ctrl-C (or SIGTERM)."""
    # A SIGTERM ends the demo as Ctrl-C does: JupyterLab, the API and the provider stop too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    fapi2 = "--fapi2" in argv
    port = int(os.environ.get("DEMO_PORT", "8888"))
    provider = OIDCTestProvider(
        port=int(os.environ.get("DEMO_PROVIDER_PORT", "8765")),
        par=fapi2,
        key_auth=fapi2,
        dpop=fapi2,
    )
    provider.start()
    api = ResourceServer(provider.issuer, dpop=fapi2)
    api.start()
    work = tempfile.TemporaryDirectory(prefix="nevis-demo-")
    try:
        redirect_uris = [f"http://{h}:{port}/nevis/callback" for h in ("127.0.0.1", "localhost")]
        if fapi2:
            credentials = fapi2_client(provider, redirect_uris, Path(work.name))
        else:
            client = provider.add_client(
                redirect_uris, access_token_ttl=300, rotate_refresh_token=True
            )
            credentials = {
                "NEVIS_AUTH_CLIENT_ID": client.client_id,
                "NEVIS_AUTH_CLIENT_SECRET": client.client_secret,
            }
        token = secrets.token_hex(16)
        env = {
            **os.environ,
            "NEVIS_AUTH_ISSUER": provider.issuer,
            **credentials,
            "NEVIS_AUTH_SCOPES": "openid offline_access profile email api",
            # The local provider issues refresh tokens only after an explicit consent.
            "NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS": json.dumps({"prompt": "consent"}),
            "DEMO_API_URL": api.hello_url,
        }
        url = f"http://127.0.0.1:{port}/lab/tree/getting-started.ipynb?token={token}"
        profile = (
            "  FAPI 2.0: pushed requests, private_key_jwt, DPoP-bound tokens\n" if fapi2 else ""
        )
        print(
            "\n  jupyter-nevis-auth demo\n"
            f"{profile}"
            f"  Provider (oidc-provider, Nevis paths): {provider.issuer}\n"
            f"  Protected API:                         {api.hello_url}\n"
            f"  Open JupyterLab:                       {url}\n"
            f"  Sign in at the provider with any user name and any password\n"
            f"  (for example alice / secret); the user name becomes your subject.\n"
            f"  Status after sign-in: http://127.0.0.1:{port}/nevis/api/status\n"
            "  Stop with Ctrl-C.\n",
            flush=True,
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--ServerApp.root_dir={ROOT / 'notebooks'}",
            f"--IdentityProvider.token={token}",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 0
    finally:
        api.stop()
        provider.close()
        work.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
