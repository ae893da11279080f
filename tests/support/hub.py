"""One way to start the hub tests' JupyterHub: which hub, its service's settings, its client."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.hub.harness import JupyterHub
from tests.hub.service_harness import OAuthHub, ServiceHub
from tests.support.provider import OIDCTestProvider, RegisteredClient

#: per-server: the extension in every user server (tests/hub/jupyterhub_config.py);
#: service: sign-ins in the nevis-auth service (service_config.py);
#: sign-in-once: the service, and users sign in to the hub at the provider (oauth_config.py).
HubKind = Literal["per-server", "service", "sign-in-once"]


@dataclass(frozen=True)
class HubSpec:
    """What differs between the hubs of the hub tests and benchmarks."""

    kind: HubKind = "per-server"
    #: The prefix of the hub's work directory.
    name: str = "hub"
    #: NEVIS_AUTH_APIS of the service.
    apis: Mapping[str, Any] = field(default_factory=dict)
    #: What the service's environment adds (NEVIS_AUTH_* settings).
    service_env: Mapping[str, str] = field(default_factory=dict)
    #: What `hubmode` servers ask instead of the service, if set.
    hub_mode_service_url: str = ""
    #: Options of the provider's client (TTLs, rotation, grant types...).
    client_options: Mapping[str, Any] = field(default_factory=dict)
    #: Lines of the hub's configuration, run after the kind's configuration file.
    config: str = ""

    def make(self, work_dir: Path, issuer: str) -> JupyterHub:
        """The hub, prepared but not started."""
        hub: JupyterHub
        if self.kind == "per-server":
            if self.apis or self.service_env or self.hub_mode_service_url:
                raise ValueError("a per-server hub has no service to configure")
            hub = JupyterHub(work_dir, issuer)
        else:
            hub_class = OAuthHub if self.kind == "sign-in-once" else ServiceHub
            hub = hub_class(
                work_dir, issuer, dict(self.apis), dict(self.service_env), self.hub_mode_service_url
            )
        if self.config:
            hub.add_config(self.config)
        return hub


#: The sign-in-once hub: users sign in to the hub at the provider (GenericOAuthenticator
#: keeping auth_state), the service continues from there; refresh-token rotation on.
SIGN_IN_ONCE = HubSpec(
    kind="sign-in-once", name="oauth-hub", client_options={"rotate_refresh_token": True}
)


@contextmanager
def running_hub(
    spec: HubSpec, provider: OIDCTestProvider, work_dir: Path
) -> Iterator[tuple[Any, RegisteredClient]]:
    """The hub of `spec` running, and its one client at `provider`; stopped on the way out."""
    hub = spec.make(work_dir, provider.issuer)
    # Providers match redirect URIs exactly: one client, registered for the hub's few URIs.
    client = provider.add_client(hub.redirect_uris, **spec.client_options)
    with hub.running(client.client_id, client.client_secret):
        yield hub, client
