"""Sphinx configuration of the jupyter-nevis-auth documentation.

Build it with `make docs`, or `python -m sphinx -W --keep-going -b html docs docs/_build/html`.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from jupyter_nevis_auth import __version__  # noqa: E402

REPOSITORY = "https://github.com/jupyter-nevis-auth/jupyter-nevis-auth"

project = "jupyter-nevis-auth"
author = "jupyter-nevis-auth contributors"
copyright = "jupyter-nevis-auth contributors"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "nevis_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# jupyterhub.md is a page of its own on GitHub; the site includes it in the admins' guide.
exclude_patterns = ["_build", "jupyterhub.md", "images"]

myst_enable_extensions = ["colon_fence", "deflist"]
# GitHub-style anchors, so that the pages' own "#section" links work here too.
myst_heading_anchors = 3

# Docstrings write `name` for code, as Markdown does.
default_role = "literal"
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

extlinks = {"repo": (f"{REPOSITORY}/blob/main/%s", "%s")}

html_theme = "pydata_sphinx_theme"
html_title = "jupyter-nevis-auth"
html_theme_options = {
    "github_url": REPOSITORY,
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
