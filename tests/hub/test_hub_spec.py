"""tests/support/hub.py's HubSpec: configuration lines of a spec run after its kind's file."""

from __future__ import annotations

import pytest

from tests.hub.harness import JupyterHub
from tests.support.hub import HubSpec

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """The per-server hub, zoe let in beside the users of tests/hub/jupyterhub_config.py."""
    return HubSpec(
        name="extended-hub", config="c.Authenticator.allowed_users = {'alice', 'bob', 'zoe'}\n"
    )


def test_the_spec_s_lines_run_after_the_kind_s_configuration(hub: JupyterHub) -> None:
    # zoe is let in by the spec's line alone; the password is the kind's file's.
    for name in ("zoe", "alice"):
        with hub.browser(name) as browser:
            browser.log_in()
