"""Settings of the convlog process itself, which only its owner (the CLI) may change.

Three interpreter settings, chosen for ingest and builds and taken by every verb
(`docs/deployment.md`): freezing the objects that exist after imports takes them out
of every later full collection (parsing the generated
workload in a process with the CLI's imports took 20.6–20.7 µs of CPU an event
frozen, 22.0–22.8 not); collecting the youngest objects every 50,000 allocations
instead of every 700 stops the collector walking a batch's lists again and again
while they grow (a build's read, resolve and assign of 300k events spent 4.4–6.5 µs
an event in the collector, against 0.8–1.0 µs); and a shorter switch interval lets
the thread that writes a batch take the interpreter back sooner after each of its
round trips while the next batch is parsed. All are process-wide, so the library
never sets them; the command line does, once.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.0002
YOUNGEST_COLLECTION_THRESHOLD = 50_000  # allocations less deallocations (default 700)
_tuned = False


def tune_process() -> None:
    """Freeze what exists now out of the collector's way, collect the youngest objects
    less often; switch threads sooner.

    Once per process (a process that runs the CLI's `main` many times, a test
    session, say, freezes only what its first run found).
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_COLLECTION_THRESHOLD, middle, oldest)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
