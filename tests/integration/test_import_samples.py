"""The bundled sample stores (the README's example) import in a dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workers.gateways.samples as samples
from workers.cli.main import main

SAMPLES = Path(samples.__file__).parent


# (sessions: one per transcript; keys: the gateway's sessions, an OpenClaw key's earlier
# epochs archived by /reset counting under it)
@pytest.mark.parametrize(("gateway", "sessions", "keys"), [("openclaw", 7, 4), ("hermes", 1, 1),
                                                           ("picoclaw", 4, 4)])
def test_bundled_sample_store_imports(gateway: str, sessions: int, keys: int,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # Given a sample store shipped in the package
    # When it is imported in a dry run (no database needed)
    status = main(["import", gateway, str(SAMPLES / gateway), "--dry-run", "--json",
                   "--timezone", "UTC"])
    report = json.loads(capsys.readouterr().out)
    # (the OpenClaw and PicoClaw samples hold a damaged file each, to show the report:
    # a partial import exits 1, with every problem named)
    assert status == (1 if report["problems"] else 0)
    assert bool(report["problems"]) == (gateway != "hermes")
    # Then every session is read and the round trip is checked
    assert report["sessions"]["imported"] == sessions
    assert report["round_trip"]["gateway_sessions"] == keys
