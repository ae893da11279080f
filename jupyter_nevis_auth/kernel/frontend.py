"""Whether a person runs the cell, and the wait for their sign-in when one does.

kernel/detect.py says what the frontend can show; the wait is the widget there, else text.
"""

from __future__ import annotations

from ..errors import LoginRequiredError
from .detect import (
    DEVICE,
    LINK,
    METHODS,
    TEXT,
    WIDGET,
    chosen_method,
    frontend_kind,
    method_asked,
)

__all__ = ["DEVICE", "LINK", "METHODS", "TEXT", "WIDGET", "frontend_kind", "wait_for_login"]


def has_interactive_frontend() -> bool:
    """True when the running cell comes from a person at a frontend (not nbclient or a script)."""
    return frontend_kind() is not None


def wait_for_login(error: LoginRequiredError, timeout: float, method: str | None = None) -> None:
    """Ask the person to sign in as `method` says; return once the token `error` lacked is there."""
    asked = method_asked(method)
    method = chosen_method(method)
    # Imported here: ipywidgets and the rest are only needed once someone has to sign in.
    if method == WIDGET:
        from . import widget

        widget.wait_for_login(error, timeout)
    elif method == DEVICE:
        from . import device_prompt as device_flow

        device_flow.wait_with_device(error, timeout)
    else:
        from . import text_wait

        text_wait.wait_with_link(error, timeout, asked=asked)
