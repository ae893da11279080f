"""Who is asking: a user server, proved by its own JUPYTERHUB_API_TOKEN, and whose it is.

JupyterHub gives each server a token of its own, with the scopes of the `server` role
(Spawner.server_token_scopes) resolved to that one server: `access:servers!server=
<user>/<server name>`. A token a user makes for themselves holds their own scopes,
`access:servers!user=<user>` among them, and an admin's holds `access:servers`: either
opens every server of the user, which is what tells it from a server's own token.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.httputil import HTTPServerRequest

from ...core.tokens import fingerprint

SERVER_SCOPE = "access:servers!server="
#: Scopes that reach every server of a user, or of several: a person's token, never a server's.
WIDE_ACCESS = re.compile(r"access:servers(!(user|group)=.*)?")
AUTHORIZATION = re.compile(r"(?:token|bearer)\s+(\S+)", re.IGNORECASE)

NO_CREDENTIAL = (
    "This endpoint answers only user servers, with their own JUPYTERHUB_API_TOKEN in an "
    "Authorization header."
)
NOT_KNOWN_TO_HUB = "JupyterHub does not know this token: it was revoked or its server stopped."
NOT_A_SERVER = (
    "This token is not a user server's own JUPYTERHUB_API_TOKEN, and only a server's gets "
    "tokens here."
)
HUB_UNREACHABLE = "JupyterHub could not be asked whose token this is; try again shortly."


@dataclass(frozen=True)
class ServerCaller:
    """A user server that proved itself: its owner and its name ("" for the default server)."""

    user: str
    server: str


def server_of(model: dict[str, Any]) -> ServerCaller | None:
    """The server whose own token JupyterHub's `model` of a token describes, or None."""
    if model.get("kind", "user") != "user" or not isinstance(model.get("name"), str):
        return None
    user = model["name"]
    scopes = [s for s in model.get("scopes", []) if isinstance(s, str)]
    if any(WIDE_ACCESS.fullmatch(s) for s in scopes):
        return None
    # A token may also reach servers shared with its owner: only the owner's own count.
    own = [s[len(SERVER_SCOPE) :] for s in scopes if s.startswith(f"{SERVER_SCOPE}{user}/")]
    if len(own) != 1:
        return None
    return ServerCaller(user, own[0][len(user) + 1 :])


def request_token(request: HTTPServerRequest) -> str:
    """The token of the request's Authorization header; never one from a URL or a cookie."""
    match = AUTHORIZATION.fullmatch(request.headers.get("Authorization", "").strip())
    return match.group(1) if match else ""


#: What JupyterHub said of a token: its server, or the sentence refusing it.
Verdict = ServerCaller | str
#: The share of `max_age` after which a token used since JupyterHub's answer is asked about
#: again, drawn per answer, so that tokens first seen together are not asked about together.
RECHECK_FROM, RECHECK_TO = 0.7, 0.9
#: The same after the first answer about a token: servers first seen together (all of them
#: after a restart of the service) are spread over most of `max_age` at once, instead of
#: over a fifth of it, then a fifth more at each question after.
FIRST_RECHECK_FROM = 0.3


@dataclass(slots=True)
class TokenVerdict:
    """JupyterHub's verdict on one token: when it was asked for, and if it was used since."""

    verdict: Verdict
    asked: float
    used: bool = False


class ServerTokens:
    """JupyterHub's answers about servers' tokens, each used at most `max_age` seconds.

    A token used since JupyterHub's last answer is asked about again in the background at a
    random point between RECHECK_FROM (FIRST_RECHECK_FROM after the first answer about it)
    and RECHECK_TO of that time, whether or not a request comes then: a server that keeps
    asking never waits for JupyterHub, and the answers about many tokens do not all expire
    at once. Only the first request with a token, or one after a pause longer than that,
    waits; one question per token at a time. For the questions in the background the token
    itself is kept in memory as long as its answer.
    """

    def __init__(self, hub_auth: HubAuth, max_age: float | None = None) -> None:
        self.hub_auth = hub_auth
        self.max_age = float(hub_auth.cache_max_age if max_age is None else max_age)
        self._answers: dict[str, TokenVerdict] = {}
        self._asking: dict[str, asyncio.Task[TokenVerdict]] = {}

    async def verdict(self, token: str) -> Verdict:
        """The server whose token this is, or the sentence refusing it; 502 from JupyterHub."""
        key = fingerprint(token)
        answer = self._answers.get(key)
        if answer is not None and time.monotonic() - answer.asked < self.max_age:
            answer.used = True
            return answer.verdict
        return (await asyncio.shield(self._ask(key, token))).verdict

    def _ask(self, key: str, token: str) -> asyncio.Task[TokenVerdict]:
        task = self._asking.get(key)
        if task is None:
            task = asyncio.ensure_future(self._question(key, token))
            self._asking[key] = task
            task.add_done_callback(lambda done: self._asked(key, done))
        return task

    def _asked(self, key: str, task: asyncio.Task[TokenVerdict]) -> None:
        if self._asking.get(key) is task:
            del self._asking[key]
        answer = self._answers.get(key)
        if task.cancelled() or task.exception() is None or answer is None:
            return
        # JupyterHub could not say: the answer before serves until it expires, then goes.
        delay = answer.asked + self.max_age - time.monotonic()
        asyncio.get_running_loop().call_later(max(delay, 0.0), self._forget, key, answer)

    async def _question(self, key: str, token: str) -> TokenVerdict:
        asked = time.monotonic()
        try:
            model = await self.hub_auth.user_for_token(token, use_cache=False, sync=False)
        except web.HTTPError as e:
            raise web.HTTPError(502, HUB_UNREACHABLE) from e
        verdict: Verdict = NOT_KNOWN_TO_HUB if model is None else server_of(model) or NOT_A_SERVER
        answer = TokenVerdict(verdict, asked)
        if self.max_age > 0:
            first = key not in self._answers
            self._answers[key] = answer
            start = FIRST_RECHECK_FROM if first else RECHECK_FROM
            share = random.uniform(start, RECHECK_TO)  # noqa: S311 (spreading load only)
            delay = asked + share * self.max_age - time.monotonic()
            asyncio.get_running_loop().call_later(delay, self._recheck, key, token, answer)
        return answer

    def _recheck(self, key: str, token: str, answer: TokenVerdict) -> None:
        """Ask again about a token used since `answer`; forget one that was not."""
        if self._answers.get(key) is not answer:
            return
        if answer.used:
            self._ask(key, token)
        else:
            del self._answers[key]

    def _forget(self, key: str, answer: TokenVerdict) -> None:
        if self._answers.get(key) is answer:
            del self._answers[key]


async def identify_server(tokens: ServerTokens, request: HTTPServerRequest) -> ServerCaller:
    """The user server making `request`, or a 403 (502 when JupyterHub cannot be asked)."""
    token = request_token(request)
    if not token:
        raise web.HTTPError(403, NO_CREDENTIAL)
    verdict = await tokens.verdict(token)
    if isinstance(verdict, str):
        raise web.HTTPError(403, verdict)
    return verdict
