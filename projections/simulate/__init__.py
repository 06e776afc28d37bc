"""What a scope policy would cost, before anyone switches to it: policies side by side.

`compare` reads the log once: each candidate policy's sessions are decided in
memory by the projector's own assignment step (`replay`), an existing
projection's are read from its tables, and every policy's numbers are counted
in the same pass (`tally` defines a turn's context and each metric).
"""

from projections.simulate.candidates import RESERVED_PREFIX, drop_abandoned, is_temporary
from projections.simulate.compare import Measured, compare
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
    "Measured",
    "Params",
    "PolicyMetrics",
    "Prices",
    "Window",
    "compare",
    "drop_abandoned",
    "is_temporary",
]
