"""JupyterHub configuration of the replica tests: the nevis-auth service is not the hub's to start.

As docs/jupyterhub.md sets up replicas: the service has a `url` (here a load balancer in front
of the replicas) and an API token, and no `command`; the tests start its replica processes
with the environment service_config.py gives a service the hub starts, written to
replica_env.json for them.
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821

here = Path(__file__).resolve().parent
load_subconfig(str(here / "service_config.py"))  # noqa: F821

service = c.JupyterHub.services[0]
environment = service.pop("environment")
service.pop("command")
service.pop("cwd")
service["api_token"] = os.environ["HUB_TEST_SERVICE_TOKEN"]
(Path(os.environ["HUB_TEST_DIR"]) / "replica_env.json").write_text(json.dumps(environment))
# The tests start the replicas once the hub is up: it need not wait for them first (30 s).
service["timeout"] = 1
