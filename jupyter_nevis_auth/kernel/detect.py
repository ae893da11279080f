"""Who runs the cell, what their frontend can show, and so how they sign in.

The rule, from the request that runs the cell:

- a widget callback (comm_msg), or an execute_request with allow_stdin that names its cell
  (metadata cellId, as JupyterLab, Notebook 7 and VS Code send): a notebook frontend that
  renders widgets: the widget, with the server's sign-in page and a one-time link;
- an execute_request with allow_stdin and no cellId (jupyter console, qtconsole, a client
  driving the kernel from a terminal): text, a one-time link and a countdown;
- anything else (nbclient, papermill, nbconvert --execute, a script): nobody to sign in.

VS Code renders widgets, but its notebooks are not pages of the Jupyter server: a relative
link leads nowhere there, so its widget offers the one-time link (absolute) as the sign-in. It
names each cell by the cell document's URI, `vscode-notebook-cell:...`; JupyterLab and
Notebook 7 by the cell's id.

$NEVIS_AUTH_LOGIN_METHOD (widget, link or device) in the kernel's environment overrides the
choice for every wait; `login(method=...)` for one sign-in.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

from ..protocol import ENV_LOGIN_METHOD

#: The ways a person signs in from a cell.
WIDGET, LINK, DEVICE = "widget", "link", "device"
METHODS = (WIDGET, LINK, DEVICE)
#: What a frontend can show: widgets, or text only.
TEXT = "text"
#: How the cell ids of VS Code begin (its cells' document URIs).
VSCODE_CELL_ID = "vscode-"


def _parent() -> dict[str, Any] | None:
    get_ipython = getattr(builtins, "get_ipython", None)
    kernel = getattr(get_ipython(), "kernel", None) if get_ipython else None
    if kernel is None or not hasattr(kernel, "get_parent"):
        return None
    return kernel.get_parent() or {}  # type: ignore[no-any-return]


def frontend_kind() -> str | None:
    """WIDGET or TEXT for a person's frontend, None when nobody is there to sign in."""
    parent = _parent()
    if parent is None:
        return None
    msg_type = parent.get("header", {}).get("msg_type")
    if msg_type == "comm_msg":
        # Widget callbacks: only a frontend that renders widgets sends these.
        return WIDGET
    # nbclient and papermill execute without allow_stdin.
    if msg_type != "execute_request" or not parent.get("content", {}).get("allow_stdin"):
        return None
    return WIDGET if (parent.get("metadata") or {}).get("cellId") else TEXT


def remote_frontend() -> bool:
    """Whether the cell runs in a notebook frontend that is no page of this server (VS Code)."""
    parent = _parent() or {}
    cell_id = (parent.get("metadata") or {}).get("cellId")
    return isinstance(cell_id, str) and cell_id.startswith(VSCODE_CELL_ID)


def chosen_method(method: str | None = None) -> str:
    """The way to sign in: `method`, else $NEVIS_AUTH_LOGIN_METHOD, else by the frontend."""
    if method is None and os.environ.get(ENV_LOGIN_METHOD):
        method = os.environ[ENV_LOGIN_METHOD]
        if method not in METHODS:
            raise ValueError(
                f"{ENV_LOGIN_METHOD} must be one of {', '.join(METHODS)}, not {method!r}."
            )
    method = method or (WIDGET if frontend_kind() == WIDGET else LINK)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    return method


def method_asked(method: str | None = None) -> bool:
    """Whether the way to sign in was asked for (`method`, $NEVIS_AUTH_LOGIN_METHOD), not
    chosen by the frontend."""
    return bool(method or os.environ.get(ENV_LOGIN_METHOD))
