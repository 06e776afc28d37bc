"""Every gateway's key for one session view: the `legacy` map of a resolution."""

from __future__ import annotations

from projections.gateways.hermes import keys as hermes
from projections.gateways.openclaw import keys as openclaw
from projections.gateways.picoclaw import keys as picoclaw
from projections.gateways.view import LegacyView

GATEWAYS = ("openclaw", "hermes", "picoclaw")


def legacy_keys(view: LegacyView) -> dict[str, str]:
    """Gateway name -> its key for the session; a gateway that cannot group it so is absent."""
    found: dict[str, str] = {}
    openclaw_key = openclaw.render(view)
    if openclaw_key is not None:
        found["openclaw"] = openclaw_key
    hermes_key = hermes.render(view)
    if hermes_key is not None:
        found["hermes"] = hermes_key
    found.update(picoclaw.render(view))
    return found
