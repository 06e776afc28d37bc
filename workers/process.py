"""Settings of the convlog process itself, which only its owner (the CLI) may change.

Two interpreter settings for ingest: freezing the objects that exist after
imports takes them out of every later full collection (parsing the generated
workload in a process with the CLI's imports took 20.6–20.7 µs of CPU an event
frozen, 22.0–22.8 not), and a shorter switch interval lets the thread that
writes a batch take the interpreter back sooner after each of its round trips
while the next batch is parsed. Both are process-wide, so the library never
sets them; the command line does, once.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.0002
_tuned = False


def tune_process() -> None:
    """Freeze what exists now out of the collector's way; switch threads sooner.

    Once per process (a process that runs the CLI's `main` many times, a test
    session, say, freezes only what its first run found).
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
