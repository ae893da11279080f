"""Browsers and JupyterLab for the tests: Debian's Chromium driven by Playwright, `jupyter lab`.

Never a downloaded browser: Playwright launches /usr/bin/chromium (executable_path).
Without it the browser tests are skipped, except on CI (CI=true), where that is a failure.
A module with browser tests takes the fixtures by name, as
`chromium = browser.chromium`; `jp_asyncio_loop` and `jp_server_cleanup` too, since
Playwright's sync API runs an event loop of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.process import Process, ProcessError, free_port
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # chromium_or_skip() reports it
    sync_playwright = None

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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
STOP_TIMEOUT = 20.0
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


@contextmanager
def launched_chromium(executable_path: str | None = None) -> Iterator[Any]:
    """A headless Chromium (Debian's, or a skip), closed on the way out."""
    path = executable_path or chromium_or_skip()
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_context(chromium: Any, timeout: float = UI_TIMEOUT, **options: Any) -> Iterator[Any]:
    """A fresh browser profile whose pages wait `timeout` ms for what a test waits for."""
    context = chromium.new_context(**options)
    context.set_default_timeout(timeout)
    try:
        yield context
    finally:
        context.close()


def write_settings(settings_dir: Path, plugin: str, values: dict[str, Any]) -> None:
    """User settings of a JupyterLab plugin, like `@jupyterlab/apputils-extension:themes`."""
    package, name = plugin.rsplit(":", 1)
    path = settings_dir / package / f"{name}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))


def quiet_lab_settings(settings_dir: Path) -> None:
    """No news pop-up over the notebook, no kernel dialog before it."""
    write_settings(
        settings_dir,
        "@jupyterlab/apputils-extension:notification",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    write_settings(
        settings_dir, "@jupyterlab/notebook-extension:tracker", {"autoStartDefaultKernel": True}
    )


def sign_in_at_provider(popup: Any, username: str) -> None:
    """The provider's own login form, then its consent page."""
    popup.locator('input[name="login"]').fill(username)
    popup.locator('input[name="password"]').fill("secret")
    popup.locator('button[type="submit"]').click()
    popup.get_by_role("button", name="Continue").click()


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
        quiet_lab_settings(settings)
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
        self._process: Process | None = None

    def __enter__(self) -> JupyterLab:
        """Start JupyterLab."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop JupyterLab and its kernels."""
        self.stop()

    def start(self) -> None:
        """Start JupyterLab and wait until it answers."""
        process = Process(
            "JupyterLab", self.command, cwd=self.workdir, env=self.env, log_file=self.log_file
        )
        self._process = process
        process.start()
        try:
            process.wait_for_url(
                self.url + "api/status", STARTUP_TIMEOUT, params={"token": self.token}
            )
        except ProcessError:
            self.stop()
            raise RuntimeError(f"JupyterLab did not start:\n{self.output}") from None

    def stop(self) -> None:
        """Stop JupyterLab and its kernels."""
        if self._process is not None:
            self._process.stop(STOP_TIMEOUT)
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


@pytest.fixture
def jp_asyncio_loop() -> None:
    """No Jupyter test event loop: Playwright's sync API runs its own."""


@pytest.fixture
def jp_server_cleanup() -> None:
    """No in-process Jupyter server to clean up: the server runs in a process of its own."""


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium, or a skip (a failure on CI)."""
    return chromium_or_skip()


@pytest.fixture(scope="module")
def chromium(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium."""
    with launched_chromium(chromium_path) as browser:
        yield browser
