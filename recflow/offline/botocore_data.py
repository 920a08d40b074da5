"""botocore's data files (endpoints, service models) parsed once per process, not once per session.

botocore gives every Session its own Loader, and a Loader caches what it parsed for itself only: each new
session parses endpoints.json (about 0.15 s) and every service model it uses again. The offline run makes
sessions freely: moto makes three while it is imported, and every principal the run authorizes as has its
own (authorization.py). Sessions with the same data path (AWS_DATA_PATH) now share one Loader, so each file
is parsed once. A Loader hands out the same parsed objects on every call already, so sharing it changes
nothing a session can observe.
"""

from __future__ import annotations

import functools
import os

import botocore.loaders
import botocore.session


class _SearchPaths(list[str]):
    """boto3 appends its data directory to its session's loader on every boto3.Session(): kept once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """botocore.loaders.create_loader, made once per search path."""
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in (search_path_string or "").split(os.pathsep)]
    return botocore.loaders.Loader(extra_search_paths=_SearchPaths(path for path in paths if path))


def share_data_loaders() -> None:
    """Make botocore sessions with the same data path share one Loader (idempotent)."""
    botocore.session.create_loader = _shared_loader
