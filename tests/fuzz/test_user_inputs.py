"""The fuzz harness: every input a user hands convlog, built valid and then broken by
hypothesis. Whatever arrives, the command ends with a code (0, 1 or 2), never a
traceback or exit 70, and leaves its source as it was.

Covered here: policy files (`policy check`), the three gateways' configurations
(`policy convert`), retention rules (`retention plan`) and the three importers'
stores (`import --dry-run`). Event lines are fuzzed by `tests/unit/test_event_fuzz.py`
and `tests/integration/test_fuzzed_events_fold.py`, the HTTP API by schemathesis in
`tests/integration/test_http_openapi.py`. Each test runs a few examples by default,
more under CI, and many more under the `slow` marker.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.profiles import examples
from tests.integration.gateway_stores import hermes_store, openclaw_store, picoclaw_store
from tests.integration.import_helpers import fingerprint
from workers.cli.main import EXIT_BUG, main

POLICY_KEYS = ["name", "dimensions", "dm_scope", "identity_links", "channel_groups", "spaces",
               "threads", "rules", "reset", "compaction", "encoding", "gateways",
               "session_scope", "channels", "privacy_zones", "when", "triggers", "at_hour",
               "mode", "isolate", "match", "max_age_days", "session", "dmScope", "agents",
               "bindings", "platforms", "group_sessions_per_user"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20),
                    st.sampled_from(["chat", "sender", "guild", "per-peer", "main", "/reset",
                                     "discord:1", "o200k_base", "group", "dm", "channel"]))
DOCUMENTS = st.recursive(
    SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(POLICY_KEYS) | st.text(max_size=8), inner,
                        max_size=6)), max_leaves=40)
NOISE = st.one_of(st.binary(max_size=200),
                  st.sampled_from([b"[" * 5000, b"a: &a [x]\nb: *a\n" * 3, b"\xff\xfe",
                                   b"- " * 3000 + b"x\n", b"// it's\n" + b"[" * 5000,
                                   b"a: '\\'\nb: " + b"[" * 5000,
                                   b"{'json5': Infinity, // comment\n}", b"---\n- !!python/"
                                   b"object:os.system [ls]\n", b""]))
SETTINGS = settings(max_examples=examples(60), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
SLOW_SETTINGS = settings(max_examples=500, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))


def ends_with_a_code(capsys: pytest.CaptureFixture[str], argv: list[str],
                     allowed: tuple[int, ...] = (0, 1, 2)) -> int:
    """Run `convlog ARGV` in this process: a code, never a traceback."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as usage:  # argparse's own refusal
        status = int(usage.code or 0)
    captured = capsys.readouterr()
    assert status != EXIT_BUG and "Traceback" not in captured.err, captured.err[-2000:]
    assert status in allowed, (status, captured.err[-500:])
    return status


def written(document: Any, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.fixture
def scratch() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="convlog-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def policy_files(capsys: pytest.CaptureFixture[str], scratch: Path, document: Any,
                 raw: bytes | None, gateway: str) -> None:
    path = scratch / "input"
    content = written(document, raw)
    path.write_bytes(content)
    argv = (["policy", "check", str(path)] if gateway == "convlog"
            else ["policy", "convert", "--from", gateway, str(path)])
    ends_with_a_code(capsys, argv)
    assert path.read_bytes() == content  # the source is unchanged


GATEWAYS = st.sampled_from(["convlog", "openclaw", "hermes", "picoclaw"])


@SETTINGS
@given(document=DOCUMENTS, raw=st.none() | NOISE, gateway=GATEWAYS)
def test_policy_files_and_gateway_configs_end_with_a_code(
        capsys: pytest.CaptureFixture[str], scratch: Path, document: Any,
        raw: bytes | None, gateway: str) -> None:
    policy_files(capsys, scratch, document, raw, gateway)


@pytest.mark.slow
@SLOW_SETTINGS
@given(document=DOCUMENTS, raw=st.none() | NOISE, gateway=GATEWAYS)
def test_policy_files_and_gateway_configs_end_with_a_code_at_length(
        capsys: pytest.CaptureFixture[str], scratch: Path, document: Any,
        raw: bytes | None, gateway: str) -> None:
    policy_files(capsys, scratch, document, raw, gateway)


RULES = st.fixed_dictionaries({"rules": st.lists(st.fixed_dictionaries(
    {"name": st.text(max_size=10), "match": st.dictionaries(
        st.sampled_from(["chat_type", "platform", "space", "agent", "chat"]), SCALARS,
        max_size=3),
     "max_age_days": SCALARS}), max_size=4)}) | DOCUMENTS


@SETTINGS
@given(document=RULES, raw=st.none() | NOISE)
def test_retention_rules_end_with_a_code(capsys: pytest.CaptureFixture[str], scratch: Path,
                                         cli_env: str, document: Any,
                                         raw: bytes | None) -> None:
    path = scratch / "rules.json"
    content = written(document, raw)
    path.write_bytes(content)
    ends_with_a_code(capsys, ["retention", "plan", "--rules", str(path)])
    assert path.read_bytes() == content


# -- stores: built valid, then broken ----------------------------------------------------

STORES: dict[str, Callable[[Path], Path]] = {
    "openclaw": openclaw_store, "picoclaw": picoclaw_store,
    "hermes": lambda root: hermes_store(root, current=True)}


@st.composite
def damage(draw: st.DrawFn) -> tuple[str, float, int, bytes]:
    """What to do to one file: truncate it, flip bytes, splice in a value, or link it."""
    how = draw(st.sampled_from(["truncate", "flip", "splice", "link", "deep"]))
    return how, draw(st.floats(0, 1)), draw(st.integers(1, 8)), draw(st.binary(max_size=8))


SPLICES = [b'"x"', b"1e400", b"-1e20", b"null", b"[]", b"{}", b"99999999999999999999999",
           b'"\\ud800"', b"true"]


def broken(root: Path, harm: tuple[str, float, int, bytes]) -> None:
    how, where, count, noise = harm
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:  # every file is a link already
        return
    target = files[int(where * (len(files) - 1))]
    data = bytearray(target.read_bytes())
    at = int(where * max(len(data) - 1, 0))
    if how == "truncate":
        target.write_bytes(bytes(data[:at]))
    elif how == "flip":
        for i in range(count):
            if data:
                data[(at + i * 7919) % len(data)] ^= 0xFF
        target.write_bytes(bytes(data))
    elif how == "splice":
        target.write_bytes(bytes(data[:at]) + SPLICES[count % len(SPLICES)] + noise
                           + bytes(data[at:]))
    elif how == "link":
        outside = root.parent / "outside.jsonl"
        outside.write_text('{"type": "message"}\n', encoding="utf-8")
        target.unlink()
        target.symlink_to(outside)
    else:
        target.write_bytes(b"[" * 10_000 + b"]" * 10_000 + b"\n" + bytes(data))


def imports_with_a_code(capsys: pytest.CaptureFixture[str], gateway: str,
                        harms: list[tuple[str, float, int, bytes]]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="convlog-fuzz-store-"))
    try:
        root = STORES[gateway](folder / "store")
        for harm in harms:
            broken(root, harm)
        before = fingerprint(root)
        ends_with_a_code(capsys, ["import", gateway, str(root), "--dry-run", "--json",
                                  "--timezone", "UTC"], allowed=(0, 1))
        assert fingerprint(root) == before  # read-only on the source
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@SETTINGS
@given(gateway=st.sampled_from(sorted(STORES)), harms=st.lists(damage(), max_size=3))
def test_broken_stores_import_with_a_code_and_stay_unchanged(
        capsys: pytest.CaptureFixture[str], gateway: str,
        harms: list[tuple[str, float, int, bytes]]) -> None:
    imports_with_a_code(capsys, gateway, harms)


@pytest.mark.slow
@SLOW_SETTINGS
@given(gateway=st.sampled_from(sorted(STORES)), harms=st.lists(damage(), max_size=5))
def test_broken_stores_import_with_a_code_at_length(
        capsys: pytest.CaptureFixture[str], gateway: str,
        harms: list[tuple[str, float, int, bytes]]) -> None:
    imports_with_a_code(capsys, gateway, harms)


def test_the_harness_sees_a_crash(capsys: pytest.CaptureFixture[str], scratch: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a verb that raises what no edge translates
    import workers.cli.policy as verb

    def boom(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(verb, "check_command", boom)
    (scratch / "p.json").write_text("{}", encoding="utf-8")
    # Then the harness refuses its exit 70 and traceback
    with pytest.raises(AssertionError):
        ends_with_a_code(capsys, ["policy", "check", str(scratch / "p.json")])
