"""The events table as SQLAlchemy Core metadata (Alembic migrations create it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per accepted event. The envelope (address, type, ids, times, tokens) is
# in columns, for indexes and the projector's hot path. The content a person may
# later ask to erase (text, sender_name, meta) lives in `payload` alone: erasure
# will move it out to a per-event side table keyed by position (or encrypt it
# per subject and drop the key), so the envelope is never rewritten.
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

# Taken (transaction-scoped) by every append, and by a statement trigger on any
# other INSERT: see eventlog.store for why appends are serialized.
APPEND_LOCK_KEY = 0x636F6E766C6F67  # "convlog"
EVENTS_CHANNEL = "convlog_events"
