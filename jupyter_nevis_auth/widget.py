"""The sign-in widget; it lives in `jupyter_nevis_auth.kernel.widget`, and this path still works."""

from __future__ import annotations

from .claims import display_name
from .kernel.client import sign_out, token_status
from .kernel.widget import LoginWidget, format_duration, login, sign_in_href, wait_for_login

__all__ = [
    "LoginWidget",
    "display_name",
    "format_duration",
    "login",
    "sign_in_href",
    "sign_out",
    "token_status",
    "wait_for_login",
]
