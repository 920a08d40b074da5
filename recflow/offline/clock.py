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


class ScaledClock(SimClock):
    """Simulated time for `recflow local serve`: it runs on its own, `1 / scale` times faster than real
    time, so a client polling a job from outside sees it finish, and a pipeline wait of N simulated
    seconds sleeps N * scale real seconds.

    A wait does not add its seconds on top: the real time it sleeps already moves the clock by them.
    So two waits in parallel branches overlap as they would on AWS, instead of adding up as on a
    SimClock, and every observer (moto, the local Personalize, a client) reads one timeline.
    """

    def __init__(self, start: float | None = None, scale: float = 0.001) -> None:
        if scale <= 0:
            raise ValueError("a served clock's time scale must be more than 0")
        super().__init__(start, scale)
        self._started = time.monotonic()

    def now(self) -> float:
        return self._now + (time.monotonic() - self._started) / self.scale

    def advance(self, seconds: float) -> None:
        """Sleep until `seconds` of simulated time have passed."""
        if seconds <= 0:
            return
        until = self.now() + seconds
        while (left := until - self.now()) > 0:  # time.sleep may wake a hair early on some platforms
            time.sleep(left * self.scale)
