"""A cell run as `jupyter console` runs it, in a kernel of a server on a real JupyterHub.

The kernel's channels are the server's websocket; the messages are jupyter_client's, with
allow_stdin and no cellId: no widget frontend, as from a terminal.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import requests
import websocket
from jupyter_client.session import Session

from tests.hub.harness import HubBrowser, HubError
from tests.support.provider import HTTP_TIMEOUT


class ConsoleCell:
    """One cell running in a new kernel of a server, and what it has shown so far."""

    def __init__(self, browser: HubBrowser, server_url: str, code: str) -> None:
        """Start a kernel on the server and run `code` in it, in the background."""
        self.headers = {"Authorization": f"token {browser.api_token()}"}
        self.api = browser.hub.url + server_url + "api/kernels"
        response = requests.post(self.api, headers=self.headers, json={}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 201, response.text
        self.kernel_id = response.json()["id"]
        self.text: list[str] = []
        self.errors: list[str] = []
        self.done = threading.Event()
        ws_url = self.api.replace("http://", "ws://", 1) + f"/{self.kernel_id}/channels"
        self.ws = websocket.create_connection(
            ws_url, header=[f"{k}: {v}" for k, v in self.headers.items()], timeout=HTTP_TIMEOUT
        )
        session = Session(key=b"", username="console")
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": True,
            "stop_on_error": True,
        }
        message = session.msg("execute_request", content)
        self.msg_id = message["header"]["msg_id"]
        self.ws.send(json.dumps({**message, "channel": "shell", "buffers": []}, default=str))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while not self.done.is_set():
                try:
                    message = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if message.get("parent_header", {}).get("msg_id") != self.msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream":
                    self.text.append(content["text"])
                elif kind in ("display_data", "execute_result"):
                    self.text.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    self.errors.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    self.done.set()
        except (websocket.WebSocketException, OSError):
            self.done.set()

    def shows(self, pattern: re.Pattern[str], timeout: float = 60) -> str:
        """The first match of `pattern` (its last group, if any) once the cell printed it."""
        deadline = time.monotonic() + timeout
        while not (found := pattern.search("".join(self.text))):
            if time.monotonic() > deadline or self.done.is_set():
                raise HubError(f"the cell did not show {pattern.pattern}: {self.output()}")
            time.sleep(0.1)
        return found.group(found.lastindex or 0)

    def result(self, timeout: float = 90) -> str:
        """Everything the cell printed, once it has finished."""
        if not self.done.wait(timeout):
            raise HubError(f"the cell did not finish within {timeout:.0f} s: {self.output()}")
        return "".join(self.text)

    def interrupt(self) -> None:
        """Interrupt the kernel, as the console's Ctrl-C does."""
        response = requests.post(
            f"{self.api}/{self.kernel_id}/interrupt", headers=self.headers, timeout=HTTP_TIMEOUT
        )
        assert response.status_code == 204, response.text

    def output(self) -> str:
        """What the cell printed and raised so far."""
        return "".join(self.text) + "".join(self.errors)

    def close(self) -> None:
        """Stop reading and shut the kernel down."""
        self.done.set()
        self.ws.close()
        requests.delete(f"{self.api}/{self.kernel_id}", headers=self.headers, timeout=HTTP_TIMEOUT)

    def __enter__(self) -> ConsoleCell:
        """Use the cell in a with block."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Shut its kernel down."""
        self.close()
