"""The JupyterLab extension as built and installed: listed by JupyterLab, its unit tests pass.

The TypeScript unit tests (jest, under src/__tests__/) run here, so `make test` and CI run
them. They need the extension's node_modules, which building it (`pip install -e .`,
`make install`) installs; without them the test is skipped, except on CI (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def jlpm_or_skip() -> str:
    """JupyterLab's jlpm, once the extension's dependencies are installed."""
    jlpm = shutil.which("jlpm", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if jlpm is None:
        reason = "jlpm (from jupyterlab) is not installed"
    elif not (ROOT / "node_modules" / "jest").is_dir():
        reason = "the extension's node_modules are missing: run `make install`"
    else:
        return jlpm
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the TypeScript unit tests, but {reason}.")
    pytest.skip(reason)


def run_jlpm(*args: str) -> str:
    """`jlpm ARGS` in the project; its output, which a failure shows."""
    jlpm = jlpm_or_skip()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [jlpm, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_typescript_unit_tests_pass() -> None:
    output = run_jlpm("test", "--ci")
    assert re.search(r"Tests:\s+\d+ passed, \d+ total", output), output


def test_typescript_and_css_are_formatted() -> None:
    run_jlpm("prettier:check")


def test_labextension_is_listed_enabled_and_ok() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"jupyter-nevis-auth v\S+ enabled OK", output), output


def test_settings_schema_and_package_agree() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    schema = json.loads((ROOT / "schema" / "plugin.json").read_text())
    assert package["jupyterlab"]["outputDir"] == "jupyter_nevis_auth/labextension"
    assert set(schema["properties"]) == {"showStatusItem", "warningMinutes", "pollSeconds"}
    # Settings hold preferences only: nothing a token could be stored in.
    assert schema["additionalProperties"] is False
    assert all(p["type"] in ("boolean", "integer") for p in schema["properties"].values())
    menu = schema["jupyter.lab.menus"]["main"][0]
    assert {i.get("command") for i in menu["items"]} >= {
        "nevis-auth:sign-in",
        "nevis-auth:sign-out",
        "nevis-auth:show-status",
    }
