"""`convlog import openclaw`: what the text and address of an imported message keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlog.store import EventStore
from tests.integration.gateway_stores import INBOUND, T0, iso, openclaw_store
from tests.integration.import_helpers import imported, run_import
from workers.cli.main import main


def _store(root: Path, index: dict[str, Any], transcripts: dict[str, str]) -> Path:
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    for name, text in transcripts.items():
        (sessions / name).write_text(text, encoding="utf-8")
    return root


def _transcript(sid: str, *texts: str) -> str:
    lines = [{"type": "session", "version": 3, "id": sid, "timestamp": iso(0), "cwd": "/w"}]
    parent = None
    for index, text in enumerate(texts, start=1):
        entry_id = f"{sid}-{index}"
        lines.append({"type": "message", "id": entry_id, "parentId": parent,
                      "timestamp": iso(index),
                      "message": {"role": "user", "content": text}})
        parent = entry_id
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_the_time_envelope_of_a_dm_is_stripped_and_the_rest_of_the_text_kept(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given DM texts as OpenClaw stores them: a `[Ddd YYYY-MM-DD HH:MM TZ] ` prefix before
    # the text, after the metadata block, and a bracket of the user's own that is no envelope
    index = {"agent:main:main": {"sessionId": "s-dm", "updatedAt": T0 * 1000,
                                 "chatType": "direct", "origin": {"provider": "telegram"}}}
    root = _store(tmp_path / "openclaw", index, {"s-dm.jsonl": _transcript(
        "s-dm", "[Sun 2026-03-01 11:00 UTC] hello  there [Sun 2026-03-01 11:00 UTC]",
        INBOUND + "[Sun 2026-03-01 11:01 GMT+1] with metadata",
        "[note] keep my brackets", "[Sun 2026-03-01 11:02 UTC]\nline two")})
    # When it is imported
    status, _ = run_import(capsys, "openclaw", str(root))
    # Then exactly that prefix is gone and the text is otherwise as written
    assert status == 0
    texts = [e["text"] for e in imported(store, "openclaw")]
    assert texts == ["hello  there [Sun 2026-03-01 11:00 UTC]", "with metadata",
                     "[note] keep my brackets", "line two"]


def test_a_malformed_last_line_ending_in_a_newline_is_not_called_truncated(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given one transcript whose last line is broken but ends in a newline, and one whose
    # last line stops mid-way with no newline after it
    index = {"agent:main:slack:channel:c1": {"sessionId": "s-bad", "updatedAt": T0 * 1000},
             "agent:main:slack:channel:c2": {"sessionId": "s-cut", "updatedAt": T0 * 1000}}
    good = _transcript("s-bad", "fine")
    root = _store(tmp_path / "openclaw", index, {
        "s-bad.jsonl": good + "{not json at all}\n",
        "s-cut.jsonl": _transcript("s-cut", "fine") + '{"type": "message", "id": "x'})
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    # Then the first is a malformed line and only the second is truncated
    assert status == 1
    problems = {Path(p["path"]).name: p["problem"] for p in report["problems"]}
    assert problems["s-bad.jsonl"] == "line 3: not JSON; the line was skipped"
    assert problems["s-cut.jsonl"] == ("line 3: truncated (the file ends mid-line); "
                                       "the line was skipped")


def test_a_matrix_dm_keyed_by_its_room_is_imported_as_a_dm(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Matrix DM under dm.sessionScope per-room (openclaw extensions/matrix/src/
    # matrix/monitor/handler.test.ts): keyed by its room as a channel, its entry direct
    key = "agent:main:matrix:channel:!dm:example.org"
    index = {key: {"sessionId": "s-room", "updatedAt": T0 * 1000, "chatType": "direct",
                   "origin": {"provider": "matrix", "chatType": "direct",
                              "nativeDirectUserId": "@alice:example.org",
                              "nativeChannelId": "!dm:example.org"}}}
    root = _store(tmp_path / "openclaw", index, {"s-room.jsonl": _transcript("s-room", "hi")})
    # When it is imported
    status, _ = run_import(capsys, "openclaw", str(root))
    # Then its message is a DM in that room from its peer, with the gateway's key kept
    assert status == 0
    event = imported(store, "openclaw")[0]
    assert (event["platform"], event["chat_type"], event["chat"], event["sender"]) == (
        "matrix", "dm", "!dm:example.org", "@alice:example.org")
    assert event["meta"]["import"]["key"] == key


def _current_session(capsys: pytest.CaptureFixture[str], key: str) -> str:
    """The session the active projection now gives the gateway's key (its latest epoch)."""
    capsys.readouterr()
    assert main(["resolve", "--key", key, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    return str(answer["imported"][0]["session"]["session_id"])


def _context(capsys: pytest.CaptureFixture[str], session: str) -> list[tuple[str, str]]:
    capsys.readouterr()
    assert main(["context", session, "--json"]) == 0
    return [(m["role"], m["content"]) for m in json.loads(capsys.readouterr().out)["messages"]]


def test_a_compaction_leaves_its_summary_and_the_entries_the_gateway_kept_in_context(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the DM of the test store: after an earlier epoch archived by /reset, a
    # compaction summarised the entries before a5 ("It rains.") and kept a5 on
    # (firstKeptEntryId), and "thanks" came after it
    root = openclaw_store(tmp_path / "openclaw")
    run_import(capsys, "openclaw", str(root))
    assert main(["catch-up"]) == 0
    # When the context of the DM's current session is assembled
    context = _context(capsys, _current_session(capsys, "agent:main:main"))
    # Then it is what the gateway's context was: the summary, the kept entry, what followed;
    # nothing the summary covers, and nothing of the epoch before the reset
    assert [text for _, text in context] == [
        "Alice asked about Oslo weather: rain.", "It rains.", "thanks"]
    assert context[0][0] == "system"


def test_a_compaction_without_a_kept_entry_on_the_branch_covers_everything_before_it(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a compaction whose firstKeptEntryId is on no entry of the active branch (the
    # gateway then keeps nothing older than the compaction in context)
    index = {"agent:main:slack:channel:c1": {"sessionId": "s-c", "updatedAt": T0 * 1000}}
    lines = _transcript("s-c", "one", "two").splitlines()
    lines.append(json.dumps({"type": "compaction", "id": "s-c-3", "parentId": "s-c-2",
                             "timestamp": iso(3), "summary": "they said one and two",
                             "firstKeptEntryId": "gone", "tokensBefore": 10}))
    lines.append(json.dumps({"type": "message", "id": "s-c-4", "parentId": "s-c-3",
                             "timestamp": iso(4),
                             "message": {"role": "user", "content": "three"}}))
    root = _store(tmp_path / "openclaw", index, {"s-c.jsonl": "\n".join(lines) + "\n"})
    # When it is imported and projected
    status, report = run_import(capsys, "openclaw", str(root))
    assert status == 0 and report["summaries"]["recorded"] == 1
    assert main(["catch-up"]) == 0
    # Then the context is the summary and what came after the compaction
    context = _context(capsys, _current_session(capsys, "agent:main:slack:channel:c1"))
    assert [text for _, text in context] == ["they said one and two", "three"]


def test_reset_archives_are_earlier_epochs_of_their_key_and_the_round_trip_is_whole(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the test store, with every quirk the gateway writes: a compaction keeping an
    # entry, a time envelope, branches, and an archived earlier epoch of three keys, each
    # named by its key another way (usage lineage, a store backup, the archived header)
    root = openclaw_store(tmp_path / "openclaw")
    # When it is imported
    _, report = run_import(capsys, "openclaw", str(root))
    # Then no transcript is left without its key, and the gateway's own grouping gives
    # back every one of its sessions, epochs and all
    events = imported(store, "openclaw")
    assert not [e for e in events if e["meta"]["import"]["key"].startswith("orphan:")]
    trip = report["round_trip"]
    assert (trip["gateway_sessions"], trip["reproduced"], trip["share"]) == (4, 4, 1.0)
    assert trip["splits"] == [] and trip["merges"] == []
    assert "3 archived transcript(s) (/reset or deleted) imported as earlier epochs of " \
           "their key, a session.reset before each later one" in report["notes"]
    # And the copies beside the transcripts (a compaction checkpoint, a .bak transcript, a
    # trajectory) are no sessions: each is named, and nothing of theirs was read twice
    copies = [n for n in report["notes"] if "skipped" in n]
    assert [n.split(" skipped")[0] for n in copies] == [
        "1 compaction checkpoint(s)", "1 transcript backup(s) (.bak)",
        "1 runtime trajectory file(s)"]
    assert report["messages"]["duplicates"] == 0
    assert len({e["id"] for e in events}) == len(events)
    # And each reset is at the key's address, the DM's naming its peer, so that it resets
    # that very session under the per-person DM scopes too
    resets = {e["meta"]["import"]["key"]: e for e in events if e["type"] == "session.reset"}
    assert sorted(resets) == ["agent:main:discord:channel:c1", "agent:main:main",
                              "agent:main:telegram:group:-1001:topic:7"]
    dm = resets["agent:main:main"]
    assert (dm["platform"], dm["chat_type"], dm["chat"], dm["sender"]) == (
        "telegram", "dm", "42", "42")
    topic = resets["agent:main:telegram:group:-1001:topic:7"]
    assert (topic["chat"], topic["topic"]) == ("-1001", "7")
    # And the channel's live session holds its own messages only: the reset from the
    # store backup's epoch started it after the archived one
    assert main(["catch-up"]) == 0
    assert [text for _, text in _context(capsys, _current_session(
        capsys, "agent:main:discord:channel:c1"))] == ["hello channel", "hi all"]


def test_an_archive_no_lineage_ties_to_one_key_keeps_its_own_session_id(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given two reset archives: one whose session id no entry, header or backup names, and
    # one whose id two keys both claim (never guessed between)
    index = {"agent:main:slack:channel:c1": {"sessionId": "s-a", "updatedAt": T0 * 1000,
                                             "usageFamilySessionIds": ["s-both", "s-a"]},
             "agent:main:slack:channel:c2": {"sessionId": "s-b", "updatedAt": T0 * 1000,
                                             "previousSessionId": "s-both"}}
    root = _store(tmp_path / "openclaw", index, {
        "s-a.jsonl": _transcript("s-a", "in c1"), "s-b.jsonl": _transcript("s-b", "in c2"),
        "s-lost.jsonl.reset.2026-03-01T09-00-00.000Z": _transcript("s-lost", "lost"),
        "s-both.jsonl.reset.2026-03-01T09-00-00.000Z": _transcript("s-both", "whose?")})
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    # Then both are imported under their own session id, and the report says why
    assert status == 0
    keys = {e["text"]: e["meta"]["import"]["key"] for e in imported(store, "openclaw")}
    assert keys == {"in c1": "agent:main:slack:channel:c1",
                    "in c2": "agent:main:slack:channel:c2",
                    "lost": "orphan:s-lost", "whose?": "orphan:s-both"}
    assert report["notes"] == [
        "2 transcript(s) tied to no session key (no sessions.json entry, lineage or store "
        "backup names their session id, 1 of them claimed by more than one key): imported "
        "under their session id, chat unknown"]


def test_copies_of_a_transcript_are_skipped_by_name_and_stand_in_when_it_is_gone(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a channel whose transcript has a compaction checkpoint and a .bak copy beside
    # it, and a second channel whose transcript is gone but its checkpoint is still there
    checkpoint = "s-{}.checkpoint.0f4d3a52-1b2c-4d5e-8f90-123456789abc.jsonl"
    index = {"agent:main:slack:channel:c1": {"sessionId": "s-a", "updatedAt": T0 * 1000},
             "agent:main:slack:channel:c2": {"sessionId": "s-b", "updatedAt": T0 * 1000}}
    root = _store(tmp_path / "openclaw", index, {
        "s-a.jsonl": _transcript("s-a", "one", "two"),
        checkpoint.format("a"): _transcript("s-a", "one"),
        "s-a.jsonl.bak.2026-03-01T10-30-00.000Z": _transcript("s-a", "one", "two"),
        checkpoint.format("b"): _transcript("s-b", "only in the checkpoint")})
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    # Then each message is in the log once, under its key: no transcript was an orphan
    assert status == 0
    keys = [(e["text"], e["meta"]["import"]["key"]) for e in imported(store, "openclaw")]
    assert sorted(keys) == [("one", "agent:main:slack:channel:c1"),
                            ("only in the checkpoint", "agent:main:slack:channel:c2"),
                            ("two", "agent:main:slack:channel:c1")]
    # And the two copies of a transcript that is read are named as skipped; the one whose
    # transcript is gone was read as that key's live session (no reset before it)
    assert report["notes"] == [
        "1 compaction checkpoint(s) skipped: a copy of a transcript taken before it "
        "compacted, whose entries are imported once, from it",
        "1 transcript backup(s) (.bak) skipped: a copy of a transcript whose entries are "
        "imported once, from it"]
    assert report["sessions"]["imported"] == 2
    trip = report["round_trip"]
    assert (trip["gateway_sessions"], trip["reproduced"]) == (2, 2)
    assert not [e for e in imported(store, "openclaw") if e["type"] == "session.reset"]


def test_a_key_with_a_main_and_a_topic_transcript_has_no_reset_between_them(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a thread's key whose session id has its transcript under both names OpenClaw
    # has used (`<id>.jsonl`, `<id>-topic-<thread>.jsonl`), and a Slack thread whose
    # thread id (a ts) keeps its dot in the file name
    index = {"agent:main:discord:channel:c5:thread:t5": {"sessionId": "s-t",
                                                         "updatedAt": T0 * 1000},
             "agent:main:slack:channel:c9:thread:1772359800.000100": {
                 "sessionId": "s-k", "updatedAt": T0 * 1000}}
    root = _store(tmp_path / "openclaw", index, {
        "s-t.jsonl": _transcript("s-t", "first part"),
        "s-t-topic-t5.jsonl": _transcript("s-t2", "second part"),
        "s-k-topic-1772359800.000100.jsonl": _transcript("s-k", "in the slack thread")})
    # When it is imported and projected
    status, report = run_import(capsys, "openclaw", str(root))
    assert status == 0
    # Then no reset separates the two files of one session: one epoch, both in context
    events = imported(store, "openclaw")
    assert [e["type"] for e in events].count("session.reset") == 0
    assert main(["catch-up"]) == 0
    context = _context(capsys, _current_session(
        capsys, "agent:main:discord:channel:c5:thread:t5"))
    assert [text for _, text in context] == ["first part", "second part"]
    # And the Slack thread's transcript was found beside its entry, its thread id whole
    slack = next(e for e in events if e["text"] == "in the slack thread")
    assert (slack["meta"]["import"]["key"], slack["topic"]) == (
        "agent:main:slack:channel:c9:thread:1772359800.000100", "1772359800.000100")
    trip = report["round_trip"]
    assert (trip["gateway_sessions"], trip["reproduced"], trip["splits"]) == (2, 2, [])


def test_a_topic_transcript_under_a_key_that_names_no_thread_is_a_gateway_session_of_its_own(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a group's key that names no thread, with its main transcript and a topic's
    root = _store(tmp_path / "openclaw", {
        "agent:main:telegram:group:-100777": {"sessionId": "s-g", "updatedAt": T0 * 1000}}, {
        "s-g.jsonl": _transcript("s-g", "in the group"),
        "s-g-topic-42.jsonl": _transcript("s-g2", "in topic 42")})
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    assert status == 0
    # Then the round trip counts the topic's transcript as the gateway kept it, apart,
    # and finds each in one convlog session of its own: nothing split, nothing merged
    trip = report["round_trip"]
    assert (trip["gateway_sessions"], trip["reproduced"], trip["splits"], trip["merges"]) == (
        2, 2, [], [])
