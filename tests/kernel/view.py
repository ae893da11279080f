"""A kernel of the test server seen as a frontend sees it: widget state rebuilt from IOPub."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp

TEXT_TIMEOUT = 20.0


class KernelView:
    """A kernel of the test server, seen through its messages like a frontend sees it."""

    def __init__(self, client: Any, kernel_id: str) -> None:
        self.client = client
        self.kernel_id = kernel_id
        self.messages: list[dict[str, Any]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self._idle: set[str] = set()
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and read IOPub in the background."""
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        self._pump = asyncio.create_task(self._read_iopub())

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        if self._pump is not None:
            self._pump.cancel()
        self.client.stop_channels()

    async def _read_iopub(self) -> None:
        while True:
            msg = await self.client.get_iopub_msg()
            self.messages.append(msg)
            content, kind = msg["content"], msg["msg_type"]
            if kind == "comm_open":
                self.models[content["comm_id"]] = dict(content["data"].get("state", {}))
            elif kind == "comm_msg" and content["data"].get("method") == "update":
                self.models.setdefault(content["comm_id"], {}).update(content["data"]["state"])
            elif kind == "status" and content["execution_state"] == "idle":
                self._idle.add(msg["parent_header"].get("msg_id", ""))

    async def until(self, check: Callable[[], Any], timeout: float = TEXT_TIMEOUT) -> Any:
        """Wait until `check()` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; widgets show {self.screen()!r}")
            await asyncio.sleep(0.05)
        return result

    async def execute(
        self, code: str, *, interactive: bool = True, timeout: float = 60, cell_id: str = ""
    ) -> dict[str, Any]:
        """Run `code` as a cell (from a person's notebook when `interactive`); its reply.

        As JupyterLab does, a person's cell allows stdin and names the cell it runs (`cell_id`,
        else a new id).
        """
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": interactive,
            "stop_on_error": False,
        }
        metadata = {"cellId": cell_id or str(uuid.uuid4())} if interactive else {}
        msg = self.client.session.msg("execute_request", content, metadata=metadata)
        self.client.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        await self.until(lambda: msg_id in self._idle)
        return {**reply["content"], "output": self.output(msg_id)}

    def start_execute(self, code: str, cell_id: str = "") -> asyncio.Task[dict[str, Any]]:
        """Run `code` as a person's cell in the background."""
        return asyncio.create_task(self.execute(code, cell_id=cell_id))

    def output(self, msg_id: str) -> str:
        """The text a cell printed or displayed."""
        parts = []
        for msg in self.messages:
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream":
                parts.append(content["text"])
            elif msg["msg_type"] in ("execute_result", "display_data"):
                parts.append(content["data"].get("text/plain", ""))
        return "".join(parts)

    def click(self, model_id: str) -> None:
        """Click a Button as the frontend does."""
        data = {"method": "custom", "content": {"event": "click"}}
        msg = self.client.session.msg("comm_msg", {"comm_id": model_id, "data": data})
        self.client.shell_channel.send(msg)

    def login_widgets(self) -> list[str]:
        """Model ids of the login widgets shown so far, oldest first."""
        return [
            model_id
            for model_id, state in self.models.items()
            if "nevis-login" in state.get("_dom_classes", ())
        ]

    def _ref(self, value: str) -> dict[str, Any]:
        return self.models[value.removeprefix("IPY_MODEL_")]

    def visible(self, state: dict[str, Any]) -> bool:
        """Whether the frontend would show this widget."""
        layout = state.get("layout")
        return not layout or self._ref(layout).get("display") != "none"

    def parts(self, model_id: str) -> list[dict[str, Any]]:
        """The visible leaf widgets inside a widget, in order."""
        state = self.models[model_id]
        if not self.visible(state):
            return []
        if "children" in state:
            found = []
            for child in state["children"]:
                found.extend(self.parts(child.removeprefix("IPY_MODEL_")))
            return found
        return [{**state, "model_id": model_id}]

    def text(self, model_id: str) -> str:
        """What a person reads in a widget."""
        words = []
        for part in self.parts(model_id):
            words.append(part.get("value") or part.get("description") or "")
        return html.unescape(re.sub(r"<[^>]+>", "", " ".join(words)))

    def screen(self) -> list[str]:
        """The text of every login widget."""
        return [self.text(model_id) for model_id in self.login_widgets()]

    def sign_in_link(self, model_id: str) -> str | None:
        """The href of the widget's visible sign-in link, if there is one."""
        for part in self.parts(model_id):
            match = re.search(r'href="([^"]+)"', part.get("value") or "")
            if match:
                return html.unescape(match.group(1))
        return None

    def button(self, model_id: str, description: str) -> str:
        """Model id of the visible button labelled `description`."""
        return next(
            p["model_id"] for p in self.parts(model_id) if p.get("description") == description
        )

    def sign_out_button(self, model_id: str) -> str:
        """Model id of a login widget's Sign out button, shown or not."""
        return next(
            button
            for button, state in self.models.items()
            if "nevis-sign-out" in state.get("_dom_classes", ())
            and self._contains(model_id, button)
        )

    def _contains(self, model_id: str, part: str) -> bool:
        children = [c.removeprefix("IPY_MODEL_") for c in self.models[model_id].get("children", ())]
        return part in children or any(self._contains(child, part) for child in children)

    def transcript(self) -> str:
        """Every message the kernel sent, as JSON."""
        return json.dumps([m["content"] for m in self.messages], default=str)


@pytest.fixture
def kernel_view(
    jp_serverapp: ServerApp, http_server_client: Any, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[KernelView]:
    """A kernel started by the test server (listening, so the kernel can reach it)."""
    manager = jp_serverapp.kernel_manager
    run = jp_asyncio_loop.run_until_complete
    kernel_id = run(manager.start_kernel())
    view = KernelView(manager.get_kernel(kernel_id).client(), kernel_id)
    run(view.start())
    run(view.execute("import jupyter_nevis_auth"))
    yield view
    run(view.stop())
    run(manager.shutdown_kernel(kernel_id, now=True))
