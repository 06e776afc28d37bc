"""TinyClaw's grouping as a convlog policy: one session per agent.

TinyClaw (TinyAGI/tinyclaw, `packages/core/src/invoke.ts`) runs each agent's CLI in the
agent's working directory with `claude -c` (continue the last session), so every
message an agent gets, from any channel and any sender, lands in one session until a
reset. Its settings (`settings.json`: agents, teams, channels, models) name no session
setting; the closest convlog policy keeps every direct message of an agent in one
session (`dm_scope: main`, TinyClaw's bots talk in DMs) and folds the rest per platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.gateways.conversion import Conversion, require_object

_ROUTING = {"agents", "teams"}
_WHY = {
    "agents": "which agent answers (and its working directory) is the gateway's decision; "
              "convlog takes the agent from each event",
    "teams": "team routing and chat rooms stay in the gateway; a room imports as a group "
             "chat of the team's id",
}


def convert(data: Mapping[str, Any]) -> Conversion:
    """The convlog policy closest to TinyClaw's one session per agent."""
    config = require_object(data, "TinyClaw")
    conversion = Conversion("tinyclaw")
    conversion.policy.update({
        "name": "from-tinyclaw",
        "description": "one session per agent for its direct messages, as TinyClaw's "
                       "`claude -c` keeps them",
        "dimensions": [], "dm_scope": "main"})
    for key in config:
        if key in _ROUTING:
            conversion.warn("AGENT_ROUTING", key, _WHY[key])
        elif key != "workspace":
            conversion.warn("NO_EQUIVALENT", key, "convlog has no equivalent setting; it was "
                            "not carried over")
    return conversion
