"""Deprecated: the JupyterHub service is `jupyter_nevis_auth.hub.service` now; the old paths
configuration files name keep working until jupyter-nevis-auth 0.3.0."""
