"""A session's row says what its members say: times, span, participants and chats.

The fold sums up each batch's members of a session in memory (`assign.Added`) and merges
that into the row; here the rows of projections folded in small batches are checked
against the members themselves, read back with their events.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.projections import POLICIES, new_projection
from workers.tools.workload import generate

_FROM_MEMBERS = text("""
    SELECT m.session_id, min(e.occurred_at), max(e.occurred_at),
           max(e.occurred_at) FILTER (WHERE e.type = 'message.received'),
           min(m.position), max(m.position),
           array_agg(e.sender ORDER BY m.position)
               FILTER (WHERE e.type = 'message.received' AND e.sender IS NOT NULL),
           array_agg(e.chat ORDER BY m.position) FILTER (WHERE e.chat IS NOT NULL)
      FROM session_members m JOIN events e ON e.position = m.position
     WHERE m.projection_id = :p
     GROUP BY m.session_id
""")
_ROWS = text("""
    SELECT session_id, first_at, last_at, last_user_at, first_position, last_position,
           participants, chats
      FROM sessions WHERE projection_id = :p AND message_count > 0
""")


def _once(values: list[Any] | None) -> list[Any]:
    """Each value once, where it first came."""
    return list(dict.fromkeys(values or []))


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_every_session_row_is_what_its_members_say(store: EventStore, engine: Engine,
                                                   policy_name: str) -> None:
    # Given a realistic log folded in small batches under the policy
    new_projection(engine, "p", Policy.model_validate(POLICIES[policy_name]))
    store.append([Event.model_validate(e) for e in generate(1500, seed=23)])
    Projector(engine, store, "p", batch_size=41).catch_up()
    # When each session's members are read back with their events
    with engine.connect() as conn:
        projection_id = get(conn, "p").id
        expected = {row[0]: (*row[1:6], _once(row[6]), _once(row[7]))
                    for row in conn.execute(_FROM_MEMBERS, {"p": projection_id})}
        rows = {row[0]: tuple(row[1:6]) + (list(row[6]), list(row[7]))
                for row in conn.execute(_ROWS, {"p": projection_id})}
    # Then every session row says the same
    assert len(rows) > 20
    assert rows == expected
