"""The one way this package makes HTTP calls: timeouts, size limit, hostile answers.

ProviderHTTP calls the provider; hub_http.py calls JupyterHub and its services the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders

from ..core.config import NevisAuth
from ..core.urls import strip_query
from ..errors import ProviderError, ProviderTimeoutError, UpstreamError, UpstreamTimeoutError

#: Bytes of an answer read at most; a longer answer is refused unread.
MAX_ANSWER_BYTES = 1024 * 1024
#: RFC 6749 5.2: the characters an OAuth error code may contain.
ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")


def parse_json(body: bytes) -> Any:
    """`body` as JSON, or None when it is not: hostile input never raises here."""
    try:
        return json.loads(body)
    except Exception:  # ValueError, but also RecursionError on deep nesting and more
        return None


def oauth_error_code(data: Any) -> str:
    """The `error` of an OAuth error answer, or "" when there is no well-formed one."""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) and ERROR_CODE.fullmatch(error) else ""


def upper_first(text: str) -> str:
    """`text` with its first letter a capital (str.capitalize would make "OAuth" "oauth")."""
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class HTTPAnswer:
    """One HTTP answer, read in full (and at most MAX_ANSWER_BYTES)."""

    code: int
    headers: HTTPHeaders
    body: bytes


class _AnswerTooLarge(Exception):
    """Raised while reading an answer longer than MAX_ANSWER_BYTES."""


class BoundedHTTP:
    """HTTP calls with a timeout, a size limit on answers and a sentence for every failure."""

    #: What a call raises when no answer came in time, and when none came for another reason.
    timeout_error: type[UpstreamError] = UpstreamTimeoutError
    error: type[UpstreamError] = UpstreamError

    def __init__(
        self,
        http_client: AsyncHTTPClient,
        log: logging.Logger,
        *,
        timeout: float,
        validate_cert: bool = True,
        ca_certs: str | None = None,
    ) -> None:
        self.http_client = http_client
        self.log = log
        self.timeout = timeout
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        #: Set by a call that got no answer or a 5xx: at the provider, the next sign-in
        #: checks discovery before sending a browser to a provider that may be down.
        self.failed = False

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        what: str = "the provider",
        timeout: float | None = None,
    ) -> HTTPAnswer:
        """One call with this client's timeout (or `timeout` seconds to answer); any failure
        becomes `self.error` with a sentence naming `what`."""
        chunks: list[bytes] = []
        size = 0

        def collect(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise _AnswerTooLarge
            chunks.append(chunk)

        request = HTTPRequest(
            url,
            method=method,
            body=urlencode(body) if body is not None else None,
            headers={"Accept": "application/json", **(headers or {})},
            connect_timeout=self.timeout,
            request_timeout=timeout or self.timeout,
            validate_cert=self.validate_cert,
            ca_certs=self.ca_certs,
            follow_redirects=False,
            streaming_callback=collect,
        )
        if body is not None:
            request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = await self.http_client.fetch(request, raise_error=False)
        except Exception as e:  # a malformed status line or header raises what it likes
            self.failed = True
            timed_out = isinstance(e, asyncio.TimeoutError) or (
                isinstance(e, HTTPClientError) and e.code == 599 and "Timeout" in str(e)
            )
            # tornado's own client turns the callback's _AnswerTooLarge into a closed stream.
            too_large = size > MAX_ANSWER_BYTES
            reason = "answer too large" if too_large else type(e).__name__
            self.log.warning("%s %s failed: %s", method, strip_query(url), reason)
            if timed_out:
                raise self.timeout_error(
                    f"{upper_first(what)} did not answer within {timeout or self.timeout:g} "
                    "seconds; try again later."
                ) from e
            if too_large:
                raise self.error(
                    f"{upper_first(what)} sent an answer larger than "
                    f"{MAX_ANSWER_BYTES // 1024} KiB, which was refused; try again later."
                ) from e
            raise self.error(f"{upper_first(what)} could not be reached; try again later.") from e
        if response.code >= 500:
            self.failed = True
        return HTTPAnswer(response.code, response.headers, b"".join(chunks))

    async def fetch_json(self, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """A call that must answer 200 with a JSON object."""
        response = await self.fetch(url, what=what, **kwargs)
        if response.code != 200:
            self.log.warning(
                "%s %s answered HTTP %s",
                kwargs.get("method", "GET"),
                strip_query(url),
                response.code,
            )
            raise self.error(
                f"{upper_first(what)} answered with HTTP status {response.code}; try again later."
            )
        return self.json_object(response, url, what)

    def json_object(self, response: HTTPAnswer, url: str, what: str) -> dict[str, Any]:
        """The JSON object in `response`; anything else is `self.error`."""
        data = parse_json(response.body)
        if not isinstance(data, dict):
            self.log.warning("%s answered with something that is not JSON", strip_query(url))
            raise self.error(f"{upper_first(what)} answered with something that is not JSON.")
        return data


class ProviderHTTP(BoundedHTTP):
    """Calls the provider with the configured timeout and TLS settings."""

    timeout_error = ProviderTimeoutError
    error = ProviderError

    def __init__(
        self, config: NevisAuth, http_client: AsyncHTTPClient | None, log: logging.Logger
    ) -> None:
        super().__init__(
            http_client or AsyncHTTPClient(),
            log,
            timeout=config.http_timeout,
            validate_cert=config.validate_cert,
            ca_certs=config.ca_bundle or None,
        )
        self.config = config
