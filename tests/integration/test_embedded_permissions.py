"""The embedded server, run as root, opens nothing outside its own directory: a data dir
behind a closed folder is refused, and starting one elsewhere changes no parent folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from eventlog.database import embedded_server_url, stop_embedded_server
from eventlog.errors import ConfigurationError

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="only root's embedded server runs as another user")


def modes(path: Path) -> dict[Path, int]:
    return {parent: parent.stat().st_mode for parent in path.resolve().parents}


def test_a_data_dir_behind_a_closed_folder_is_refused_and_the_folder_stays_closed() -> None:
    closed = Path(tempfile.mkdtemp(prefix="convlog-closed-"))  # 0700, as a home folder is
    try:
        home = closed / "convlog"
        with pytest.raises(ConfigurationError) as refused:
            embedded_server_url(home, database="postgres", throwaway=True)
        assert refused.value.code == "EMBEDDED_HOME_UNREACHABLE"
        assert str(closed) in str(refused.value)
        assert closed.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def test_a_server_starts_without_changing_any_folder_above_its_data() -> None:
    parent = Path(tempfile.mkdtemp(prefix="convlog-open-"))
    parent.chmod(0o755)  # a folder others may pass through, as /var/lib is
    home = parent / "home"
    before = modes(home)
    try:
        url = embedded_server_url(home, database="postgres", throwaway=True)
        assert url.startswith("postgresql")
        assert modes(home) == before
        assert (home / "pgdata").stat().st_mode & 0o077 in (0, 0o050)  # closed, as PG wants
    finally:
        stop_embedded_server(home)
        shutil.rmtree(home.parent, ignore_errors=True)
