"""The JupyterHub service of jupyter-nevis-auth: one place for every hub user's sign-ins.

`jupyter-nevis-auth-service` runs the Authorization Code flow for the hub's users at
/services/<name>/, keeps their tokens encrypted in a database, refreshes them, and
hands each user server its own user's tokens, on the server's JUPYTERHUB_API_TOKEN.
"""
