"""MkDocs hook: the reference pages generated at build time, never committed.

`reference/cli.md` comes from the parser `convlog` builds (`cli_reference.py`),
`reference/http.md` from `openapi.json` (`http_reference.py`). Both are added to the
site's files before the navigation is built, so `mkdocs.yml` lists them like any page.
"""

from __future__ import annotations

from typing import Any

import cli_reference  # this folder is on sys.path while MkDocs loads the hook
import http_reference
from mkdocs.structure.files import File, Files

GENERATED = {
    "reference/cli.md": cli_reference.render,
    "reference/http.md": http_reference.render,
}


def on_files(files: Files, config: Any) -> Files:
    for uri, render in GENERATED.items():
        files.append(File.generated(config, uri, content=render()))
    return files
