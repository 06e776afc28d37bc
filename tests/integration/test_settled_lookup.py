"""A session look-up that found nothing looks again once the projection has settled.

A turn answered ahead of the fold names a session the projection may not hold yet; a
read of it that finds nothing settles the projection and asks again. The fold may
commit the session between the first look-up and settle's look at the checkpoint, in
which case settle finds nothing left to do: the look-up must be asked again all the same.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from eventlog.access import Principal
from eventlog.store import EventStore
from projections.errors import ContextError
from projections.projector import Projector
from projections.registry import get
from projections.sessions import session_of_event
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection
from workers.api.scoped import settled_session

ANYONE = Principal("gw", None, frozenset({"read"}))


def test_a_session_folded_between_the_look_up_and_the_settle_is_found(
        store: EventStore, engine: Engine) -> None:
    # Given a message not folded yet into "main", and its session's id (the same in a
    # twin projection under the same policy, folded)
    appended = store.append([make_event(chat="c", sender="u1", text="where is the mill?")])
    position = appended.last_position
    assert position is not None
    new_projection(engine, "main")
    new_projection(engine, "twin")
    Projector(engine, store, "twin").catch_up()
    with engine.connect() as conn:
        info = get(conn, "main")
        session_id = session_of_event(conn, get(conn, "twin").id, position)
    assert session_id is not None

    def folded_meanwhile() -> None:
        # The fold commits while the reader settles, so settle finds the projection
        # already at the head and has nothing to do.
        Projector(engine, store, "main").catch_up()

    # When the session is looked up, then it is found, on the primary
    row, found_on = settled_session(engine, engine, info, str(session_id), ANYONE,
                                    folded_meanwhile)
    assert row.session_id == session_id and found_on is engine
    # And a session that does not exist is still not found
    with pytest.raises(ContextError):
        settled_session(engine, engine, info, "agent=main/platform=discord/chat=none",
                        ANYONE, lambda: None)
