"""The kernel/server contract is stdlib only: loading the server extension needs no requests."""

from __future__ import annotations

import json

from tests.kernel.conftest import python


def test_the_contract_imports_only_the_standard_library():
    imported = python(
        """
        import json, sys
        before = set(sys.modules)
        import jupyter_nevis_auth.protocol
        added = {m.split(".")[0] for m in set(sys.modules) - before}
        print(json.dumps(sorted(added - set(sys.stdlib_module_names))))
        """,
        {},
    )

    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == ["jupyter_nevis_auth"]


def test_loading_the_server_extension_does_not_import_requests():
    loaded = python(
        """
        import importlib, json, sys
        import jupyter_nevis_auth
        for point in jupyter_nevis_auth._jupyter_server_extension_points():
            importlib.import_module(point["module"])
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "requests")))
        """,
        {},
    )

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == []
