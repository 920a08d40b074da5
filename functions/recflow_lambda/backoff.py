"""Capped exponential backoff with deterministic equal jitter, for the job status pollers."""

import hashlib

# 2**32 times POLL_MIN_SECONDS is beyond any sensible cap; bounding the exponent keeps the integers small.
_MAX_EXPONENT = 32


def equal_jitter_seconds(seed: str, attempt: int, base_seconds: int, cap_seconds: int) -> int:
    """Seconds to wait before poll number ``attempt`` (1 for the first poll).

    The ceiling is min(cap, base * 2^(attempt-1)); half of it is fixed and half is jitter. The jitter
    comes from sha256(seed, attempt) instead of a random generator (or Python's per-process salted
    ``hash``), so a redriven or offline run waits exactly as long as the original.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    ceiling: int = min(cap_seconds, base_seconds * 2 ** min(attempt - 1, _MAX_EXPONENT))
    digest = hashlib.sha256(f"{seed}\n{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    half = ceiling / 2
    return max(1, round(half + half * fraction))
