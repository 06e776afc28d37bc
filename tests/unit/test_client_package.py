"""The Python client stands alone: it imports none of convlog's server side, and its own
package needs nothing but httpx."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_SIDE = ("eventlog", "projections", "workers", "sqlalchemy", "psycopg", "pydantic",
               "fastapi", "dramatiq", "tiktoken")


def test_the_client_imports_nothing_of_the_server() -> None:
    probe = ("import sys, convlog_client; print(sorted({m.split('.')[0] for m in sys.modules}"
             f" & set({SERVER_SIDE!r})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_the_client_package_needs_only_httpx() -> None:
    project = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    assert [dep.split(">")[0] for dep in project["dependencies"]] == ["httpx"]
