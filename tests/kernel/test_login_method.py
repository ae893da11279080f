"""How a kernel chooses the way to sign in: asked for (argument, environment) or by the frontend."""

from __future__ import annotations

import pytest

from jupyter_nevis_auth.kernel import detect
from jupyter_nevis_auth.protocol import ENV_LOGIN_METHOD


def test_an_argument_wins_over_the_environment_and_both_count_as_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_LOGIN_METHOD, "device")
    assert detect.chosen_method("link") == "link" and detect.method_asked("link")
    assert detect.chosen_method() == "device" and detect.method_asked()
    monkeypatch.delenv(ENV_LOGIN_METHOD)
    assert not detect.method_asked()


def test_a_bad_method_names_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^method must be one of widget, link, device, not 'x'"):
        detect.chosen_method("x")
    monkeypatch.setenv(ENV_LOGIN_METHOD, "bogus")
    with pytest.raises(ValueError, match=f"^{ENV_LOGIN_METHOD} must be one of .*'bogus'"):
        detect.chosen_method()
