"""Run the demo: a local OpenID provider, a protected API and JupyterLab configured against them.

Usage: `make demo` (or `python demo/run_demo.py` inside the project's virtualenv).
Environment: DEMO_PORT (JupyterLab, default 8888), DEMO_PROVIDER_PORT (default 8765).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.provider import OIDCTestProvider  # noqa: E402
from tests.support.resource_server import ResourceServer  # noqa: E402


def main() -> int:
    """Start everything, print where to go, and run JupyterLab until Ctrl-C."""
    port = int(os.environ.get("DEMO_PORT", "8888"))
    provider = OIDCTestProvider(port=int(os.environ.get("DEMO_PROVIDER_PORT", "8765")))
    provider.start()
    api = ResourceServer(provider.issuer)
    api.start()
    try:
        client = provider.add_client(
            [f"http://{host}:{port}/nevis/callback" for host in ("127.0.0.1", "localhost")],
            access_token_ttl=300,
            rotate_refresh_token=True,
        )
        token = secrets.token_hex(16)
        env = {
            **os.environ,
            "NEVIS_AUTH_ISSUER": provider.issuer,
            "NEVIS_AUTH_CLIENT_ID": client.client_id,
            "NEVIS_AUTH_CLIENT_SECRET": client.client_secret,
            "NEVIS_AUTH_SCOPES": "openid offline_access profile email api",
            # The local provider issues refresh tokens only after an explicit consent.
            "NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS": json.dumps({"prompt": "consent"}),
            "DEMO_API_URL": api.hello_url,
        }
        url = f"http://127.0.0.1:{port}/lab/tree/getting-started.ipynb?token={token}"
        print(
            "\n  jupyter-nevis-auth demo\n"
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


if __name__ == "__main__":
    sys.exit(main())
