"""What a scope policy would cost, before anyone switches to it: policies side by side.

`compare` builds each candidate policy into a temporary projection (dropped
afterwards), then measures it and an existing projection with SQL over the
session tables: `turns` defines a turn's context, `metrics` each number.
"""

from projections.simulate.candidates import RESERVED_PREFIX, drop_abandoned, is_temporary
from projections.simulate.compare import compare, measure
from projections.simulate.model import (
    Comparison,
    Crossing,
    Params,
    PolicyMetrics,
    Prices,
    Window,
)

__all__ = [
    "RESERVED_PREFIX",
    "Comparison",
    "Crossing",
    "Params",
    "PolicyMetrics",
    "Prices",
    "Window",
    "compare",
    "drop_abandoned",
    "is_temporary",
    "measure",
]
