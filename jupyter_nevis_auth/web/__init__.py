"""The web layer both apps share: tornado mixins for pages, the kernels' sign-in API and errors.

The Jupyter server extension (handlers/) and the hub service (hubservice/) each put these on
their own handler classes; nothing here imports Jupyter Server.
"""
