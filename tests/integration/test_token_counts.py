"""Token counts: off the append path, once per (event, encoding), gap-safe, shared by rebuilds."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.erasure import erase, message_selector
from eventlog.schema import log_horizon
from eventlog.store import EventStore
from eventlog.tokens import (
    count_locked,
    count_pending,
    ensure_counted,
    get_encoding,
    watermark,
)
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection
from workers.cli.main import main
from workers.counting_pool import count_tokens
from workers.tools.workload.generator import generate

TEXTS = ["hello", "", "naïve café 日本語", "<|endoftext|> is text here", "👩‍👩‍👧‍👦 " * 20,
         "Здравствуйте, как дела?", "x" * 5_000]


def tiktoken_count(encoding: str, value: str) -> int:
    return len(get_encoding(encoding).encode_ordinary(value))


def counts(engine: Engine, encoding: str) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT position, tokens FROM token_counts WHERE encoding = :e ORDER BY position"),
            {"e": encoding}).all())


def texts_by_position(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT e.position, coalesce(c.text, '') FROM events e "
            "LEFT JOIN event_content c USING (position)")).all())


def mark_of(engine: Engine, encoding: str) -> tuple[int, object]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT counted_upto, updated_at FROM token_watermarks "
                                "WHERE encoding = :e"), {"e": encoding}).first()
    return (int(row[0]), row[1]) if row else (0, None)


def append_workload(store: EventStore, n: int, seed: int = 3) -> None:
    from eventlog.events import Event
    store.append([Event.model_validate(raw) for raw in generate(n, seed)])


def test_the_append_writes_no_count(store: EventStore, engine: Engine) -> None:
    # Given events appended
    store.append([make_event(text=value) for value in TEXTS])
    # Then neither the events row nor the derived table holds a count, and no watermark moved
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(tokens) FROM events")).one() == (
            len(TEXTS), 0)
        assert conn.execute(text("SELECT count(*) FROM token_counts")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM token_watermarks")).scalar_one() == 0


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_ensure_counted_counts_what_tiktoken_counts_up_to_the_position(
        store: EventStore, engine: Engine, encoding: str) -> None:
    # Given a log
    store.append([make_event(text=value) for value in TEXTS])
    # When counts are ensured up to position 3, then up to the head
    with engine.begin() as conn:
        ensure_counted(conn, encoding, 3)
    assert sorted(counts(engine, encoding)) == [1, 2, 3] and mark_of(engine, encoding)[0] == 3
    with engine.begin() as conn:
        ensure_counted(conn, encoding, 10**12)  # beyond the log: stops at its horizon
    # Then every event has exactly tiktoken's count, and the watermark is the head
    assert counts(engine, encoding) == {
        position: tiktoken_count(encoding, value)
        for position, value in texts_by_position(engine).items()}
    assert mark_of(engine, encoding)[0] == len(TEXTS)


def test_a_covered_position_is_not_counted_again(store: EventStore, engine: Engine) -> None:
    store.append([make_event(text=value) for value in TEXTS])
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", len(TEXTS))
    before = mark_of(engine, "cl100k_base")
    # When it is ensured again, and a lock-taking count asked for the same range
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", len(TEXTS))
        written = count_locked(conn, "cl100k_base", len(TEXTS))
    # Then nothing is written and the watermark did not move
    assert written == 0 and mark_of(engine, "cl100k_base") == before


def test_two_concurrent_callers_write_each_count_once(store: EventStore,
                                                      engine: Engine) -> None:
    # Given an uncounted log
    append_workload(store, 3_000)
    barrier = threading.Barrier(2)
    written: list[int] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            with engine.begin() as conn:
                upto = log_horizon(conn)
                barrier.wait()
                written.append(count_locked(conn, "cl100k_base", upto))
        except BaseException as error:  # reported below
            errors.append(error)

    # When two callers count the same range at the same time
    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then both succeed, one of them wrote every count and the other none
    assert errors == []
    assert sorted(written) == [0, 3_000]
    assert len(counts(engine, "cl100k_base")) == 3_000


def test_ensure_counted_from_two_transactions_at_once(store: EventStore,
                                                      engine: Engine) -> None:
    append_workload(store, 2_000)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            with engine.begin() as conn:
                barrier.wait()
                ensure_counted(conn, "o200k_base", 2_000)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counts(engine, "o200k_base") == {
        position: tiktoken_count("o200k_base", value)
        for position, value in texts_by_position(engine).items()}


def test_counting_never_skips_a_position_appended_concurrently(
        store: EventStore, engine: Engine) -> None:
    # Given writers appending small batches while a counter keeps counting
    stop = threading.Event()
    errors: list[BaseException] = []
    gaps: list[tuple[int, int]] = []

    def writer(seed: int) -> None:
        try:
            for batch in range(25):
                store.append([make_event(text=f"writer {seed} batch {batch} line {i} " * (i % 7))
                              for i in range(40)])
        except BaseException as error:
            errors.append(error)

    def counter() -> None:
        try:
            while not stop.is_set():
                with engine.begin() as conn:  # asks beyond the log: stops at the horizon
                    ensure_counted(conn, "cl100k_base", 10**12)
                with engine.connect() as conn:
                    mark = watermark(conn, "cl100k_base")
                    # Gap-safe: every position at or below the watermark has its count.
                    missing = conn.execute(text(
                        "SELECT count(*) FROM events e WHERE e.position <= :m AND NOT EXISTS "
                        "(SELECT 1 FROM token_counts t WHERE t.encoding = 'cl100k_base' "
                        "AND t.position = e.position)"), {"m": mark}).scalar_one()
                    if missing:
                        gaps.append((mark, missing))
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    counting = threading.Thread(target=counter)
    counting.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    counting.join()
    # When the counter finishes what is left
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", log_horizon(conn))
    # Then no watermark ever covered an uncounted position, and every event has one count
    assert errors == [] and gaps == []
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*), count(t.position) FROM events e LEFT JOIN token_counts t "
            "ON t.encoding = 'cl100k_base' AND t.position = e.position")).one() == (3_000, 3_000)


def test_erased_text_counts_as_what_is_left(store: EventStore, engine: Engine) -> None:
    # Given a message erased before anything counted it, and one counted before its erasure
    store.append([make_event(message_id="gone", text="secret words " * 10),
                  make_event(message_id="kept", text="counted first " * 10)])
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", 2)
    store.append([make_event(message_id="late", text="erased before counting " * 10)])
    for message in ("1000000001:kept", "1000000001:late"):
        with engine.connect() as conn:
            selector = message_selector(conn, f"discord:{message}")
        erase(engine, selector, "asked to")
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", 3)
    # Then the count taken before the erasure stays; the one taken after counts nothing
    found = counts(engine, "cl100k_base")
    assert found[2] == tiktoken_count("cl100k_base", "counted first " * 10) and found[3] == 0


def test_a_rebuild_never_recounts(store: EventStore, engine: Engine) -> None:
    # Given a log projected once (which counted it)
    append_workload(store, 2_000)
    Projector(engine, store, "default").catch_up()
    rows, mark = len(counts(engine, "cl100k_base")), mark_of(engine, "cl100k_base")
    assert rows == 2_000 and mark[0] == 2_000
    # When a second projection of the same encoding is built from the whole log
    new_projection(engine, "per-user", Policy.model_validate({"dimensions": ["chat", "sender"]}))
    Projector(engine, store, "per-user").catch_up()
    # Then no count was written and the watermark was not even touched
    assert len(counts(engine, "cl100k_base")) == rows
    assert mark_of(engine, "cl100k_base") == mark
    # And a projection in another encoding counts that one, once
    new_projection(engine, "o200k", Policy.model_validate({"encoding": "o200k_base"}))
    Projector(engine, store, "o200k").catch_up()
    assert len(counts(engine, "o200k_base")) == 2_000


def test_context_in_another_encoding_counts_and_budgets_in_it(
        store: EventStore, engine: Engine, token_counter) -> None:
    # Given a conversation projected in cl100k_base (texts where the encodings differ)
    lines = [f"Сообщение {i}: こんにちは世界、今日はいい天気ですね。" * (1 + i % 3)
             for i in range(30)]
    store.append([make_event(message_id=f"c{i}", text=line) for i, line in enumerate(lines)])
    Projector(engine, store, "default").catch_up()
    assembler = ContextAssembler(token_counter)
    with engine.begin() as conn:
        info = get(conn, "default")
        session_id = conn.execute(text("SELECT session_id FROM sessions WHERE projection_id "
                                       "= :p"), {"p": info.id}).scalar_one()
        own = assembler.assemble(conn, info.id, session_id, budget=400)
        other = assembler.assemble(conn, info.id, session_id, budget=400,
                                   encoding="o200k_base")
    # Then each message's figure is its count in the asked encoding, within the budget
    for context, encoding in ((own, "cl100k_base"), (other, "o200k_base")):
        shown = [(m["content"], m["source"]["tokens"]) for m in context.messages]
        assert shown and all(tokens == tiktoken_count(encoding, body) for body, tokens in shown)
        assert context.message_tokens <= 400
        assert context.left_out_tokens == sum(
            tiktoken_count(encoding, line) for line in lines[:len(lines) - len(shown)])
    assert len(other.items) != len(own.items)  # o200k counts these texts smaller
    # And the other encoding's counts were counted first, for the whole log
    assert len(counts(engine, "o200k_base")) == 30


def test_the_process_pool_counts_as_in_process(
        database_factory: Callable[[], AbstractContextManager[str]]) -> None:
    found = []
    for processes in (1, 2):
        with database_factory() as url:
            engine = create_engine(url)
            try:
                append_workload(EventStore(engine), 5_000, seed=11)
                result = count_tokens(engine, "o200k_base", processes=processes, batch=1_000)
                assert (result.rows, result.counted_upto) == (5_000, 5_000)
                found.append(counts(engine, "o200k_base"))
            finally:
                engine.dispose()
    assert found[0] == found[1] and len(found[0]) == 5_000


def test_the_bulk_counter_counts_up_to_the_horizon_in_batches(store: EventStore,
                                                              engine: Engine) -> None:
    append_workload(store, 2_500)
    seen: list[int] = []
    result = count_pending(engine, "cl100k_base", batch=1_000,
                           on_batch=lambda p: seen.append(p.counted_upto))
    assert seen == [1_000, 2_000, 2_500] and result.rows == 2_500
    assert count_pending(engine, "cl100k_base").rows == 0


def test_cli_counts_and_reports_status(store: EventStore, engine: Engine, cli_env: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    store.append([make_event(text=value) for value in TEXTS])
    assert main(["tokens", "count", "--encoding", "o200k_base", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["o200k_base"]["counted"] == len(TEXTS)
    assert main(["tokens", "status", "--json"]) == 0
    status = {row["encoding"]: row for row in json.loads(capsys.readouterr().out)}
    assert status["o200k_base"]["counted_upto"] == status["o200k_base"]["head"] == len(TEXTS)
    assert status["o200k_base"]["rows"] == len(TEXTS) and status["cl100k_base"]["rows"] == 0
    assert main(["tokens", "count"]) == 0  # the projections' encoding and CONVLOG_ENCODING
    assert "cl100k_base: counted 7 events" in capsys.readouterr().out
    assert main(["tokens", "status"]) == 0
    shown = capsys.readouterr().out
    assert "o200k_base" in shown and "cl100k_base" in shown and "counted up to" in shown
    with pytest.raises(SystemExit) as refused:  # a usage error, with the known encodings
        main(["tokens", "count", "--encoding", "p50k"])
    assert refused.value.code == 2 and "o200k_base" in capsys.readouterr().err
    assert main(["log", "stats", "--json", "--encoding", "o200k_base"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["tokens"] == sum(tiktoken_count("o200k_base", value) for value in TEXTS)


def test_a_downgrade_below_0008_gives_the_events_their_counts_back(
        store: EventStore, engine: Engine, database_url: str) -> None:
    from tests.integration.test_migrations_refuse_data_loss import alembic
    # Given events appended without a count, one of them counted already
    store.append([make_event(text=value) for value in TEXTS])
    with engine.begin() as conn:
        ensure_counted(conn, "cl100k_base", 2)
    # When the schema goes back to 0007 and up again
    down = alembic(database_url, "downgrade", "0007")
    assert down.returncode == 0, down.stderr
    with engine.connect() as conn:
        stored: dict[int, int] = dict(conn.execute(text(
            "SELECT position, tokens FROM events")).all())
    up = alembic(database_url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    # Then every event had its exact count in the old column, and the log is immutable still
    assert stored == {position: tiktoken_count("cl100k_base", value)
                      for position, value in texts_by_position(engine).items()}
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(text("UPDATE events SET tokens = 1"))


def test_a_projection_keeps_the_encoding_it_was_created_in_whoever_folds_it(
        store: EventStore, engine: Engine, cli_env: str, tmp_path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a projection created by a deployment that counts in o200k_base
    store.append([make_event(text=value, message_id=f"e{i}") for i, value in enumerate(TEXTS)])
    policy = tmp_path / "policy.json"
    policy.write_text('{"name": "plain"}', encoding="utf-8")
    monkeypatch.setenv("CONVLOG_ENCODING", "o200k_base")
    assert main(["projection", "create", "plain", "--policy", str(policy)]) == 0
    # When a process configured for cl100k_base folds it
    monkeypatch.setenv("CONVLOG_ENCODING", "cl100k_base")
    store.append([make_event(text="one more, in the same chat", message_id="late")])
    assert main(["catch-up", "--projection", "plain"]) == 0
    # Then its stored policy names o200k_base and its totals are o200k_base's counts
    with engine.connect() as conn:
        info = get(conn, "plain")
        total = conn.execute(text("SELECT sum(token_total) FROM sessions WHERE projection_id = :p"),
                             {"p": info.id}).scalar_one()
    assert info.policy.encoding == "o200k_base"
    late = tiktoken_count("o200k_base", "one more, in the same chat")
    assert total == sum(tiktoken_count("o200k_base", value) for value in TEXTS) + late
