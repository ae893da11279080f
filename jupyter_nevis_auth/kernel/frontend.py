"""Whether a person runs the cell, and the wait for their sign-in when one does."""

from __future__ import annotations

import builtins

from ..errors import LoginRequiredError


def has_interactive_frontend() -> bool:
    """True when the running cell comes from a person at a frontend (not nbclient or a script)."""
    get_ipython = getattr(builtins, "get_ipython", None)
    kernel = getattr(get_ipython(), "kernel", None) if get_ipython else None
    if kernel is None or not hasattr(kernel, "get_parent"):
        return False
    parent = kernel.get_parent() or {}
    msg_type = parent.get("header", {}).get("msg_type")
    if msg_type == "comm_msg":
        # Widget callbacks: only a frontend that renders widgets sends these.
        return True
    # JupyterLab, Notebook and VS Code execute with allow_stdin; nbclient and papermill do not.
    return msg_type == "execute_request" and bool(parent.get("content", {}).get("allow_stdin"))


def wait_for_login(error: LoginRequiredError, timeout: float) -> None:
    """Show the sign-in widget; return once the token `error` lacked is there, else raise."""
    # Imported here: ipywidgets is only needed once someone has to sign in.
    from . import widget

    widget.wait_for_login(error, timeout)
