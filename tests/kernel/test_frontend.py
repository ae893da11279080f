"""A cell a person runs waits for their sign-in; nbclient and scripts get the error at once."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tests.conftest import Browser
from tests.kernel.conftest import CELL_TIMEOUT, Kernel, stored


async def test_an_interactive_frontend_gets_to_wait_for_the_login(kernel: Kernel):
    cell = """
        import jupyter_nevis_auth.kernel.frontend as frontend
        waits = []
        frontend.wait_for_login = lambda error, timeout: waits.append(timeout)
        try:
            get_access_token()
        except LoginRequiredError:
            pass
        out(waits=waits, interactive=nevis.has_interactive_frontend())
    """
    # nbclient and papermill execute with allow_stdin=False; JupyterLab with True.
    assert await kernel.values(cell) == {"waits": [], "interactive": False}
    assert await kernel.values(cell, allow_stdin=True) == {"waits": [300.0], "interactive": True}
    await kernel.run("os.environ['NEVIS_AUTH_LOGIN_TIMEOUT'] = '42'")
    assert (await kernel.values(cell, allow_stdin=True))["waits"] == [42.0]


async def test_without_a_frontend_a_saved_notebook_holds_no_token_and_errors_at_once(
    browser: Browser, redirect_uri, username, jp_serverapp, tmp_path
):
    # nbclient (as papermill) starts its own kernel, which inherits the server's environment.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    cells = [
        "from jupyter_nevis_auth import get_access_token\nget_access_token()",
        # The widget's sign-out control does this.
        "import os, requests\n"
        "from jupyter_nevis_auth.protocol import secret_header\n"
        "secret = secret_header(os.environ['NEVIS_AUTH_KERNEL_SECRET'])\n"
        "requests.delete(os.environ['NEVIS_AUTH_KERNEL_URL'], headers=secret).status_code",
        "import time\nstarted = time.monotonic()\n"
        "try:\n    get_access_token(min_ttl=10**7)\n"
        "finally:\n    print(time.monotonic() - started)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        resources={"metadata": {"path": tmp_path}},
    )

    await client.async_execute()

    saved = nbformat.writes(notebook)
    assert tokens.access_token not in saved and tokens.id_token not in saved
    first, second, third = (cell.outputs for cell in notebook.cells)
    assert first[0]["data"]["text/plain"].startswith("<access token, expires in ")
    assert second[0]["data"]["text/plain"] == "200"
    assert float(third[0]["text"]) < 1.0
    assert (third[1]["ename"], third[1]["evalue"]) == (
        "LoginRequiredError",
        f"You signed out. Sign in at {jp_serverapp.base_url}nevis/login, then run this again.",
    )
