"""Simulated pipeline time for offline runs.

Personalize jobs take minutes to hours and the state machine waits between status checks. Offline,
time moves only when the pipeline waits: a Wait state, a retry interval or a Glue poll advances the
clock by its seconds and sleeps a scaled fraction of them, so a run behaves like one on AWS
(same waits, same deadlines) in a fraction of the wall time.
"""

import threading
import time


class SimClock:
    def __init__(self, start: float | None = None, scale: float = 0.001) -> None:
        if scale < 0:
            raise ValueError("the time scale must be 0 or more")
        self._now = time.time() if start is None else start
        self.scale = scale
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Let `seconds` of pipeline time pass, sleeping `seconds * scale` of real time."""
        if seconds <= 0:
            return
        with self._lock:
            self._now += seconds
        if self.scale:
            time.sleep(seconds * self.scale)


class WallClock:
    """Real time, for a long-running local service whose jobs should take real seconds."""

    def now(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
