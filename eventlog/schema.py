"""The log's tables as SQLAlchemy Core metadata (Alembic migrations create them); the lock key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from eventlog.errors import DatabaseError

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per accepted event: the envelope (address, type, ids, times, tokens) in
# columns, for indexes and the projector's hot path, and in `payload` the rest of
# the event as JSON *without* what a person may ask to erase: text, sender_name
# and meta live in `event_content`, so erasure never rewrites an event.
events = Table(
    "events",
    metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("type", Text, nullable=False),
    Column("agent", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("account", Text, nullable=False),
    Column("space", Text),
    Column("chat", Text),
    Column("chat_type", Text),
    Column("topic", Text),
    Column("sender", Text),
    Column("message_id", Text),
    Column("reply_to", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("tokens", Integer, nullable=False),
    Column("payload", JSONB, nullable=False),
)

# The erasable part of each event, one row per event (written by the same append),
# keyed by its position. Erasure sets text, sender_name and meta to NULL and records
# which erasure did it; a trigger refuses any other change. `command` keeps a leading
# bot command ("/reset") of an erased text, because projections fold it as a reset.
event_content = Table(
    "event_content",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("text", Text),
    Column("sender_name", Text),
    Column("meta", JSONB),
    Column("erased_by", BigInteger),
    Column("command", Text),
)

# The audit of erasures: append-only, and it holds no erased content.
erasures = Table(
    "erasures",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("erased_by", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("selector", Text, nullable=False),
    Column("targets", JSONB, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source_position", BigInteger, unique=True),
    Column("events_matched", Integer, nullable=False),
    Column("contents_erased", Integer, nullable=False),
    Column("summaries_erased", Integer, nullable=False),
    Column("head", BigInteger, nullable=False),
)

# Taken (transaction-scoped) by every append, and by a statement trigger on any
# other INSERT: see eventlog.store for why appends are serialized.
APPEND_LOCK_KEY = 0x636F6E766C6F67  # "convlog"
# One `init` at a time: two at once (every `docker compose up` starts the API and a
# worker, each running `init`) would both create the schema's types and both re-grant
# privileges. The second waits for the first and then finds the schema current.
INIT_LOCK_KEY = 0x636F6E76696E6974  # "convinit"
EVENTS_CHANNEL = "convlog_events"
_HORIZON = text("SELECT coalesce(max(position), 0) FROM events")


def log_horizon(conn: Connection) -> int:
    """The log's safe horizon: every event at or below it is committed and final.

    Appends are serialized (one lock before positions are drawn), so this is the
    highest committed position; reading up to it never skips a late commit.
    """
    return int(conn.execute(_HORIZON).scalar_one())
ERASURES_CHANNEL = "convlog_erasures"

# The roles the migrations create (cluster-wide) and grant to (per database).
OWNER_ROLE = "convlog_owner"
WRITER_ROLE = "convlog_writer"
WORKER_ROLE = "convlog_worker"
READER_ROLE = "convlog_reader"
OPERATOR_ROLE = "convlog_operator"


class DataLossRefused(DatabaseError):
    """A downgrade would drop rows it did not create."""

    code = "DATA_LOSS_REFUSED"


def refuse_data_loss(conn: Connection, tables: Sequence[str], *, allowed: bool,
                     revision: str) -> None:
    """Stop a downgrade that would drop any row of `tables`, unless explicitly allowed."""
    if allowed:
        return
    holding = [name for name in tables
               if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {name})")).scalar_one()]
    if holding:
        raise DataLossRefused(
            f"downgrading below revision {revision} would drop the rows of "
            f"{', '.join(holding)}; nothing was changed. Back the database up "
            "(pg_dump) and, if you mean it, repeat with "
            "`alembic -x allow-data-loss=yes downgrade ...`")


def hold_migrations(conn: Connection) -> None:
    """Take the init lock until `conn`'s transaction ends (see INIT_LOCK_KEY)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INIT_LOCK_KEY})
