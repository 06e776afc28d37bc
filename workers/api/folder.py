"""The server's folder: a process of its own that follows the log and folds the active
projection for every server process (`convlog serve` starts and watches it).

In its own process the fold does not compete for one interpreter with the requests
waiting for it; the server processes follow its checkpoint notices
(`projections.following`) and fold themselves only if it stalls.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from types import FrameType

from workers.settings import ApiSettings

log = logging.getLogger("convlog.folder")

RESTART_PAUSE = 1.0


def fold_forever() -> None:
    """A folder process's main: fold until SIGTERM or SIGINT."""
    from eventlog.database import get_engine
    from eventlog.store import EventStore
    from eventlog.tokens import TokenCounter
    from projections.following import Follower

    settings = ApiSettings()
    engine = get_engine(settings)
    follower = Follower(engine, EventStore(engine, TokenCounter(settings.encoding)))

    def stop(_signal: int, _frame: FrameType | None) -> None:
        follower.stop()

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C reaches the whole process group: serve stops this folder itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def orphaned() -> None:  # serve killed outright: the folder ends too, its lock with it
        while os.getppid() == parent:
            time.sleep(1.0)
        follower.stop()

    threading.Thread(target=orphaned, name="convlog-folder-parent", daemon=True).start()
    follower.run()
    engine.dispose()


class FolderProcess:
    """Runs `fold_forever` in a child process, and starts it again should it die."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._keep, name="convlog-folder-watch",
                                       daemon=True)

    def start(self) -> None:
        self._spawn()
        self._watch.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
            if self._process.is_alive():  # a long fold: its batch rolls back, nothing lost
                self._process.kill()
                self._process.join(timeout=5)

    def _spawn(self) -> None:
        self._process = self._context.Process(target=fold_forever, name="convlog-folder",
                                              daemon=True)
        self._process.start()

    def _keep(self) -> None:
        while not self._stopping.is_set():
            assert self._process is not None
            self._process.join(timeout=1.0)
            if self._process.exitcode is not None and not self._stopping.is_set():
                log.warning("the folder process exited (%s); starting it again",
                            self._process.exitcode)
                if not self._stopping.wait(RESTART_PAUSE):
                    self._spawn()
