"""recflow's cache directory ($XDG_CACHE_HOME/recflow, else ~/.cache/recflow): results that are costly to
make, each keyed by everything it depends on, so a stale entry is never read, only left to be pruned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recflow"


def read_json(path: Path) -> Any:
    """The cached document, or None when it is missing or unreadable (a cache only: it is made again)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, document: Any, keep: int | None = None) -> None:
    """Write the document atomically; with `keep`, only the newest `keep` files of its directory stay.
    A home that cannot be written is no error: the result is made again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(document, indent=1) + "\n")
        partial.replace(path)  # readers in other processes see the old file or the whole new one
        if keep is not None:
            files = sorted(path.parent.glob("*.json"), key=lambda file: file.stat().st_mtime_ns, reverse=True)
            for stale in files[keep:]:
                stale.unlink(missing_ok=True)
    except OSError:
        pass
