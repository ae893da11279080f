"""End to end in a real browser: JupyterLab, the widget, the provider's login form, the API.

Headless Debian Chromium driven by Playwright, a `jupyter lab` process with the
extension, the test provider and the protected test API. Without Chromium the
tests are skipped, except on CI (CI=true), where that is a failure. On a failure,
screenshots of every open page go to test-artifacts/. With UPDATE_SCREENSHOTS=1
the run also refreshes the README's widget images in docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # chromium_or_skip() reports it
    sync_playwright = None

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
README_IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 90.0
#: Milliseconds for a page to show what a test waits for.
UI_TIMEOUT = 30_000
#: Readable text: WCAG AA asks for a contrast ratio of 4.5 for normal text.
MIN_CONTRAST = 4.5

CONTRAST_JS = """(el) => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const lum = (c) => {
    const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const [a, b] = [lum(rgba(getComputedStyle(el).color)), lum(background(el))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def chromium_or_skip() -> str:
    """Debian's Chromium; without it skip, except on CI where the browser tests must run."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (Debian package 'chromium')"
    elif sync_playwright is None:
        reason = "the playwright Python package is not installed"
    else:
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {reason}.")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_settings(settings_dir: Path, plugin: str, values: dict[str, Any]) -> None:
    """User settings of a JupyterLab plugin, like `@jupyterlab/apputils-extension:themes`."""
    package, name = plugin.rsplit(":", 1)
    path = settings_dir / package / f"{name}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))


class JupyterLab:
    """A `jupyter lab` process with jupyter-nevis-auth, against the test provider and API."""

    def __init__(self, workdir: Path, provider: OIDCTestProvider, api: ResourceServer) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_file = workdir / "lab.log"
        client = provider.add_client([self.url + "nevis/callback"])
        notebooks = workdir / "notebooks"
        shutil.copytree(ROOT / "notebooks", notebooks)
        settings = workdir / "settings"
        # No news pop-up over the notebook, no kernel dialog before it.
        write_settings(
            settings,
            "@jupyterlab/apputils-extension:notification",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        write_settings(
            settings, "@jupyterlab/notebook-extension:tracker", {"autoStartDefaultKernel": True}
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
        self.env.update(
            NEVIS_AUTH_ISSUER=provider.issuer,
            NEVIS_AUTH_CLIENT_ID=client.client_id,
            NEVIS_AUTH_CLIENT_SECRET=client.client_secret,
            NEVIS_AUTH_SCOPES="openid offline_access profile api",
            NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS=json.dumps({"prompt": "consent"}),
            DEMO_API_URL=api.hello_url,
            JUPYTER_CONFIG_DIR=str(workdir / "config"),
            JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        )
        self.command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.root_dir={notebooks}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions=jupyter_nevis_auth=True",
            "--LabApp.expose_app_in_browser=True",
            "--allow-root",
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start JupyterLab and wait until it answers."""
        with open(self.log_file, "wb") as log:
            self._process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                requests.get(self.url + "api/status", params={"token": self.token}, timeout=5)
                return
            except requests.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not start:\n{self.output}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop JupyterLab and its kernels."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def output(self) -> str:
        """The server's log so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def status(self) -> dict[str, Any]:
        """nevis/api/status, as the browser sees it."""
        response = requests.get(
            self.url + "nevis/api/status", params={"token": self.token}, timeout=10
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def jp_asyncio_loop() -> None:
    """No Jupyter test event loop: Playwright's sync API runs its own."""


@pytest.fixture
def jp_server_cleanup() -> None:
    """No in-process Jupyter server to clean up: JupyterLab runs in its own process."""


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium, or a skip (a failure on CI)."""
    return chromium_or_skip()


@pytest.fixture(scope="module")
def lab(
    chromium_path: str,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLab]:
    """A running JupyterLab for the module's tests."""
    server = JupyterLab(tmp_path_factory.mktemp("lab"), oidc_provider, resource_server)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile."""
    # Twice the pixels: sharp screenshots for the README.
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
    context.set_default_timeout(UI_TIMEOUT)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def artifacts_on_failure(context: Any, lab: JupyterLab, name: str) -> Iterator[None]:
    """When a step fails, keep what every page showed, and the server's log."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        for number, page in enumerate(context.pages):
            if not page.is_closed():
                page.screenshot(path=ARTIFACTS / f"{name}-{number}.png", full_page=True)
        (ARTIFACTS / f"{name}-server.log").write_text(lab.output)
        raise


class Notebook:
    """A notebook open in JupyterLab or Notebook 7."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def cell(self, text: str) -> Any:
        """The code cell whose source contains `text`."""
        return self.page.locator(".jp-CodeCell").filter(has_text=text).first

    def run(self, text: str) -> Any:
        """Run the code cell containing `text` (as Ctrl+Enter does); returns the cell."""
        self.page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
        cell = self.cell(text)
        prompt = cell.locator(".jp-InputPrompt")
        before = prompt.inner_text()
        # Keys pressed while the page still connects to the kernel go nowhere: press again.
        for _ in range(10):
            cell.locator(".jp-InputArea-editor").click()
            self.page.keyboard.press("Control+Enter")
            try:
                # The prompt turns to [*] (or a new number) once the kernel has the cell.
                self.page.wait_for_function(
                    "([el, before]) => /\\[(\\*|\\d+)\\]/.test(el.innerText)"
                    " && el.innerText !== before",
                    arg=[prompt.element_handle(), before],
                    timeout=3000,
                )
                return cell
            except PlaywrightTimeout:
                continue
        raise AssertionError(f"the cell with {text!r} did not start")

    def widget(self, cell: Any) -> Any:
        """The login widget in a cell's output."""
        return cell.locator(".nevis-login").last

    def contrast(self, locator: Any) -> float:
        """Contrast ratio of an element's text against what is behind it."""
        return float(locator.evaluate(CONTRAST_JS))

    def check_readable(self, widget: Any) -> None:
        """Every line and control of the widget has readable contrast."""
        parts = widget.locator(".widget-html-content:visible, .nevis-sign-in, .nevis-sign-out")
        for number in range(parts.count()):
            part = parts.nth(number)
            if part.inner_text().strip():
                ratio = self.contrast(part)
                assert ratio >= MIN_CONTRAST, f"{part.inner_text()!r}: contrast {ratio:.2f}"


def save_widget(widget: Any, name: str, *, readme: bool = False) -> None:
    """A screenshot of the widget for the artifacts (and for the README when asked)."""
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=ARTIFACTS / f"{name}.png")
    if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        widget.screenshot(path=README_IMAGES / f"{name}.png")


def sign_in_at_provider(popup: Any, username: str) -> None:
    """The provider's own login form, then its consent page."""
    popup.locator('input[name="login"]').fill(username)
    popup.locator('input[name="password"]').fill("secret")
    popup.locator('button[type="submit"]').click()
    popup.get_by_role("button", name="Continue").click()


def test_sign_in_from_a_waiting_cell_in_jupyterlab(context: Any, lab: JupyterLab) -> None:
    page = context.new_page()
    nb = Notebook(page)
    with artifacts_on_failure(context, lab, "jupyterlab"):
        page.goto(f"{lab.url}lab/tree/getting-started.ipynb?token={lab.token}")

        # Signed out: the widget of login() offers the sign-in.
        login_cell = nb.run("login()")
        status_widget = nb.widget(login_cell)
        status_widget.get_by_text("Signed out").wait_for()
        sign_in = status_widget.locator("a.nevis-sign-in")
        assert sign_in.get_attribute("target") == "_blank"
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-out", readme=True)

        # The cell that needs a token shows the widget and waits.
        token_cell = nb.run("token = get_access_token()")
        waiting = nb.widget(token_cell)
        waiting.get_by_text(re.compile(r"waits for you to sign in: \d:\d\d left")).wait_for()
        nb.check_readable(waiting)
        save_widget(waiting, "widget-waiting")
        # The one-time link for another browser looks like a link, unlike the text around it.
        decoration, color, around = waiting.locator("a.nevis-one-time-link").evaluate(
            "(a) => [getComputedStyle(a).textDecorationLine, getComputedStyle(a).color, "
            "getComputedStyle(a.parentElement).color]"
        )
        assert decoration == "underline" and color != around, (decoration, color, around)

        with context.expect_page() as new_window:
            waiting.locator("a.nevis-sign-in").click()
        popup = new_window.value
        visited: list[str] = []
        popup.on("framenavigated", lambda frame: visited.append(frame.url))
        sign_in_at_provider(popup, "alice")
        # The sign-in ends on nevis/done, which closes the window the widget opened.
        if not popup.is_closed():
            popup.wait_for_event("close")
        assert any(urlparse(url).path == "/nevis/done" for url in visited), visited

        # The same execution carries on and the API answers.
        token_cell.locator(".jp-OutputArea-output").filter(has_text="(200, {").wait_for()
        assert "'sub': 'alice'" in token_cell.inner_text()
        assert lab.status()["logged_in"] is True
        # Both widgets follow the sign-in by themselves.
        for widget in (waiting, status_widget):
            widget.get_by_text("Signed in as Alice Example").wait_for()
        status_widget.get_by_text(re.compile(r"expires in \d+ min")).wait_for()
        status_widget.locator(".nevis-sign-out").wait_for()
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-in", readme=True)
        assert waiting.get_by_text("waits for you").count() == 0

        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Dark'})"
        )
        page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached")
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-in-dark")

        # Sign out from the widget: the next call waits again, until interrupted.
        status_widget.locator(".nevis-sign-out").click()
        status_widget.get_by_text("Signed out").wait_for()
        status_widget.locator("a.nevis-sign-in").wait_for()
        assert lab.status()["logged_in"] is False
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-out-dark")

        token_cell = nb.run("token = get_access_token()")
        waiting = nb.widget(token_cell)
        waiting.get_by_text(re.compile(r"waits for you to sign in")).wait_for()
        page.evaluate("window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
        token_cell.get_by_text("KeyboardInterrupt").first.wait_for()
        assert waiting.get_by_text("waits for you").count() == 0


def test_widget_renders_in_notebook_7(context: Any, lab: JupyterLab) -> None:
    page = context.new_page()
    nb = Notebook(page)
    with artifacts_on_failure(context, lab, "notebook7"):
        page.goto(f"{lab.url}notebooks/getting-started.ipynb?token={lab.token}")

        widget = nb.widget(nb.run("login()"))

        widget.get_by_text("Signed out").wait_for()
        href = widget.locator("a.nevis-sign-in").get_attribute("href")
        assert href == "/nevis/login?next=/nevis/done"
        nb.check_readable(widget)
