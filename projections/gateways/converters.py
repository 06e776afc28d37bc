"""Which converter reads which gateway's configuration."""

from __future__ import annotations

from projections.errors import PolicyError
from projections.gateways.conversion import Converter
from projections.gateways.hermes import config as config_hermes
from projections.gateways.openclaw import config as config_openclaw
from projections.gateways.picoclaw import config as config_picoclaw
from projections.gateways.tinyclaw import config as config_tinyclaw

CONVERTERS: dict[str, Converter] = {
    "openclaw": config_openclaw.convert,
    "hermes": config_hermes.convert,
    "picoclaw": config_picoclaw.convert,
    "tinyclaw": config_tinyclaw.convert,
}


def converter_for(gateway: str) -> Converter:
    try:
        return CONVERTERS[gateway]
    except KeyError:
        raise PolicyError(f"unknown gateway {gateway!r}; use {', '.join(CONVERTERS)}",
                          code="UNKNOWN_GATEWAY") from None
