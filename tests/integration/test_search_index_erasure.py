"""Erasure reaches the search index in the same transaction: the index table itself holds
nothing of erased text, and an index batch racing an erasure cannot bring it back."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.erasure import chat_selector, erase, sender_selector
from eventlog.search_index import index_pending
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from workers.cli.main import main

SECRET = "zebrasapphire4417"
KEPT = "gooseberry"
REASON = "GDPR request 2026-117"


def index_rows(engine: Engine, word: str) -> list[int]:
    """Positions whose indexed document holds `word`, read from the table, not the CLI."""
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT position FROM search_documents "
            "WHERE document @@ to_tsquery('simple', :w) ORDER BY position"), {"w": word})
            .scalars())


def lexemes(engine: Engine) -> str:
    with engine.connect() as conn:
        return " ".join(str(row) for row in conn.execute(text(
            "SELECT document::text FROM search_documents")).scalars())


def test_erase_removes_the_senders_documents_from_the_index_table(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given alice's secret and bob's message, indexed
    store.append([make_event(sender="111", message_id="a1", text=f"my code is {SECRET}"),
                  make_event(sender="222", message_id="b1", text=f"{KEPT} pie {SECRET}"),
                  make_event(type="message.edited", sender="111", message_id="a1",
                             text=f"my code is {SECRET}!")])
    index_pending(engine)
    assert index_rows(engine, SECRET) == [1, 2, 3]
    # When `convlog erase` returns
    assert main(["erase", "--sender", "discord:111", "--reason", REASON, "--yes"]) == 0
    # Then the index table holds neither her message nor her edit (no lexeme of them),
    # bob's message stays findable, and the watermark never brings hers back
    assert index_rows(engine, SECRET) == [2]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM search_documents "
                                 "WHERE position IN (1, 3)")).scalar_one() == 0
    index_pending(engine)
    assert "'code'" not in lexemes(engine)
    capsys.readouterr()
    assert main(["search", SECRET, "--json"]) == 0
    assert '"position": 1' not in capsys.readouterr().out


def test_a_redaction_removes_the_message_from_the_index(store: EventStore,
                                                        engine: Engine) -> None:
    store.append([make_event(message_id="r1", text=f"oops {SECRET}")])
    index_pending(engine)
    assert index_rows(engine, SECRET) == [1]
    store.append([make_event(type="content.redacted", message_id="r1", text=None)])
    assert index_rows(engine, SECRET) == []


def test_the_analysts_view_shows_no_erased_text(store: EventStore, engine: Engine) -> None:
    store.append([make_event(chat="9", message_id="x", text=f"{SECRET} in chat nine"),
                  make_event(message_id="y", text=f"{KEPT} {SECRET}")])
    index_pending(engine)
    erase(engine, chat_selector("discord:9"), REASON)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT position, text FROM message_search WHERE document @@ "
                                 "to_tsquery('simple', :w)"), {"w": SECRET}).all()
    assert [tuple(row) for row in rows] == [(2, f"{KEPT} {SECRET}")]


def test_planner_statistics_of_the_index_forget_erased_lexemes(store: EventStore,
                                                               engine: Engine) -> None:
    # Given a secret word common enough to be among the index's most common lexemes
    store.append([make_event(sender="111", text=f"{SECRET} {n}") for n in range(60)]
                 + [make_event(sender="222", text=f"{KEPT} {n}") for n in range(60)])
    index_pending(engine)

    def common() -> str:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE search_documents"))
        with engine.connect() as conn:
            return str(conn.execute(text(
                "SELECT most_common_elems::text FROM pg_stats "
                "WHERE tablename = 'search_documents' AND attname = 'document'")).scalar())

    assert SECRET in common()
    # When the sender is erased, Then the statistics the erasure refreshed hold it nowhere
    erase(engine, sender_selector("discord:111"), REASON)
    with engine.connect() as conn:
        stats = str(conn.execute(text(
            "SELECT most_common_elems::text FROM pg_stats "
            "WHERE tablename = 'search_documents' AND attname = 'document'")).scalar())
    assert SECRET not in stats and KEPT in stats


def test_an_index_batch_racing_an_erasure_cannot_keep_the_erased_text(
        store: EventStore, engine: Engine) -> None:
    # Given a secret appended but not indexed yet
    store.append([make_event(sender="111", text=f"my {SECRET}"),
                  make_event(sender="222", text=KEPT)])
    outcome: dict[str, Any] = {}
    with engine.connect() as indexer:
        # When an index batch has read and written the secret but not committed
        indexer.execute(text("SELECT convlog_search_index(NULL)"))

        def erase_alice() -> None:
            try:
                outcome["result"] = erase(engine, sender_selector("discord:111"), REASON)
            except Exception as error:  # reported below
                outcome["error"] = error

        eraser = threading.Thread(target=erase_alice)
        eraser.start()
        # and the erasure runs meanwhile: polled (synchronisation, not a timing assertion)
        # until it waits for the batch's lock, or is done (which it must not be)
        with engine.connect() as conn:
            while eraser.is_alive() and not conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one():
                conn.execute(text("SELECT pg_sleep(0.01)"))
                conn.commit()
        indexer.commit()
    eraser.join(timeout=60)
    assert "error" not in outcome and outcome["result"].contents_erased == 1
    # Then the erasure deleted what the batch committed: the table holds no secret
    assert index_rows(engine, SECRET) == []
    assert index_rows(engine, KEPT) == [2]
