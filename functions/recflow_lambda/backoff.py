"""Deterministic jitter for the job status pollers: a wait is only ever shortened, never lengthened."""

import hashlib
import math


def shortened_seconds(seed: str, attempt: int, seconds: float, share: float) -> int:
    """``seconds`` less a jitter of up to ``share`` of it, in whole seconds (at least 1).

    Jitter spreads the polls of jobs that started together; taking it off the wait instead of adding it
    keeps every wait within the lag bound it was computed for. The fraction comes from sha256(seed,
    attempt) instead of a random generator (or Python's per-process salted ``hash``), so a redriven or
    offline run waits exactly as long as the original.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    if not 0 <= share < 1:
        raise ValueError(f"the jitter share must be in [0, 1), got {share}")
    digest = hashlib.sha256(f"{seed}\n{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return max(1, math.floor(seconds * (1 - share * fraction)))
