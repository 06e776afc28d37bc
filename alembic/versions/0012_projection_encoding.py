"""A projection's encoding stored with it: no fold reads the environment.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

A projection's running token totals are counted in one encoding. It used to be
the policy's, else the folding process's `CONVLOG_ENCODING`, so two processes with
different settings could fold one projection in two encodings. Now `create` stores
the encoding in the projection's policy, and this upgrade does so for projections
whose policy names none: the encoding of the process that upgrades (the
deployment's `CONVLOG_ENCODING`, else cl100k_base), which is the one they were
folded in by any process configured like it. The downgrade keeps the stored
encoding: it is a valid policy key there too.
"""

import os

from sqlalchemy import text

from alembic import op
from eventlog.encoding_names import DEFAULT_ENCODING, KNOWN_ENCODINGS

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    encoding = os.environ.get("CONVLOG_ENCODING") or DEFAULT_ENCODING
    if encoding not in KNOWN_ENCODINGS:
        encoding = DEFAULT_ENCODING  # the server refuses to start with it anyway
    op.get_bind().execute(text(
        "UPDATE projections SET policy = policy || jsonb_build_object('encoding', "
        "CAST(:encoding AS text)) WHERE policy->>'encoding' IS NULL"), {"encoding": encoding})


def downgrade() -> None:
    pass
