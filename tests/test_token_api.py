"""The kernel-facing token API is one implementation: both apps' handlers run web/token_api.py's
code, and every answer comes from web/answers.py's builders."""

from __future__ import annotations

import ast
import inspect
import json
import time
import typing
from pathlib import Path

import pytest

from jupyter_nevis_auth.core.apis import ApiSpec
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.hub.refresh_hook import TOKEN_KEYS
from jupyter_nevis_auth.protocol import ErrorAnswer, TokenAnswer
from jupyter_nevis_auth.web import answers, token_api

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_nevis_auth"
#: Every module of both apps' handlers and of web/, but the builders' own.
API_MODULES = sorted(
    str(path.relative_to(PACKAGE))
    for folder in ("handlers", "hubservice", "web")
    for path in (PACKAGE / folder).glob("*.py")
    if path.name != "answers.py"
)
#: protocol.py's answer shapes, which only web/answers.py fills in.
SHAPES = {
    "TokenAnswer",
    "ErrorAnswer",
    "ApisAnswer",
    "LinkAnswer",
    "WaitAnswer",
    "DeviceAnswer",
    "DeviceProgress",
}


def routes() -> dict[str, dict[str, type]]:
    """The token, status and APIs endpoints' handler classes of each app, by endpoint."""
    from jupyter_nevis_auth.hub.service.app import HANDLERS
    from jupyter_nevis_auth.protocol import APIS_PATH, TOKEN_PATH, TOKEN_STATUS_PATH
    from jupyter_nevis_auth.server import default_handlers

    extension = dict(default_handlers)
    service = dict(HANDLERS)
    return {
        "token": {"extension": extension["/" + TOKEN_PATH], "service": service["api/token"]},
        "status": {
            "extension": extension["/" + TOKEN_STATUS_PATH],
            "service": service["api/status"],
        },
        "apis": {"extension": extension["/" + APIS_PATH], "service": service["api/apis"]},
    }


MIXINS = {
    "token": (token_api.TokenMixin, ("get", "delete")),
    "status": (token_api.StatusMixin, ("get",)),
    "apis": (token_api.ApisMixin, ("get",)),
}


@pytest.mark.parametrize("endpoint", sorted(MIXINS))
def test_both_apps_answer_with_the_one_mixin(endpoint: str):
    mixin, methods = MIXINS[endpoint]
    for app, cls in routes()[endpoint].items():
        assert issubclass(cls, mixin), f"{app}'s {cls.__name__} is not a {mixin.__name__}"
        for method in methods:
            # The extension wraps the mixin's method in Jupyter's @allow_unauthenticated.
            function = inspect.unwrap(getattr(cls, method))
            assert function is getattr(mixin, method), f"{app}'s {cls.__name__}.{method}"


def answered(tree: ast.AST) -> list[ast.expr]:
    """What every `….answer(status, body)` call in `tree` answers."""
    return [
        node.args[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "answer"
        and len(node.args) == 2
    ]


def builds_a_dict(body: ast.expr) -> bool:
    """Whether `body` makes a dict itself: a literal with fields, dict(...) or a shape's call."""
    for node in ast.walk(body):
        if isinstance(node, ast.Dict) and node.keys:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict" or node.func.id in SHAPES:
                return True
    return False


@pytest.mark.parametrize("module", API_MODULES)
def test_the_api_modules_build_no_answer_themselves(module: str):
    tree = ast.parse((PACKAGE / module).read_text())
    own = [ast.unparse(body) for body in answered(tree) if builds_a_dict(body)]
    assert own == [], f"{module} builds answers itself instead of calling web/answers.py"
    shapes = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in SHAPES
    }
    assert shapes == set(), f"{module} fills in {sorted(shapes)} itself"


def test_the_token_answer_has_every_field_of_the_contract_and_not_the_refresh_token():
    key = {"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d"}
    tokens = TokenSet(
        "at", "DPoP", time.time() + 60, "rt", scope=("openid",), dpop_jwk=key, obtained_at=1.0
    )
    api = ApiSpec(name="sales", urls=("https://sales/",), scopes=("s",))
    answer = answers.token_answer(tokens, "default", api)
    assert set(answer) == set(typing.get_type_hints(TokenAnswer))
    assert answer["api"] == "sales" and answer["dpop_jwk"] == key
    assert "rt" not in json.dumps(answer)
    bearer = answers.token_answer(TokenSet("at", refresh_token="rt"), "default", None)
    assert "dpop_jwk" not in bearer and bearer["api"] is None


def test_a_login_required_answer_has_only_fields_of_the_contract():
    answer = answers.login_required_answer(
        "Sign in.", "default", None, "/nevis/login", {"refused_at": 1.0, "refusal": "Not you."}
    )
    assert set(answer) == set(typing.get_type_hints(ErrorAnswer))


def test_the_auth_state_answer_has_what_the_hubs_refresh_user_reads():
    """hubservice/hook.py takes these names from the answer into auth_state."""
    tokens = TokenSet("at", refresh_token="rt", id_token="idt", scope=("openid", "email"))
    answer = answers.auth_state_answer(tokens)
    assert set(answer) == {*TOKEN_KEYS, "token_type", "expires_in", "scope"}
    assert answer["scope"] == "openid email"
