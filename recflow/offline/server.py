"""moto server with recflow's local Personalize: an endpoint URL for your own boto3 code.

recflow local serve --port 4566
AWS_ENDPOINT_URL=http://127.0.0.1:4566 python my_script.py   # personalize, s3, … all answer locally
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer

from recflow.offline.clock import WallClock
from recflow.offline.environ import environment
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import extended_moto
from recflow.personalize_local.service import LocalPersonalize
from recflow.personalize_local.settings import LocalSettings


@contextmanager
def local_server(host: str = "127.0.0.1", port: int = 4566, settings: LocalSettings | None = None) -> Iterator[str]:
    """Serve until the block ends; yields the endpoint URL."""
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url = f"http://{bound_host}:{bound_port}"
    clock = WallClock()
    try:
        # What the service itself reads and writes (import data, batch output) goes through the same server.
        with (
            environment({"AWS_ENDPOINT_URL": url}),
            extended_moto(
                clock,
                GlueLocal(clock).run,
                lambda account, region: LocalPersonalize(
                    account, region, clock, lambda: boto3.client("s3", endpoint_url=url), settings
                ),
            ),
        ):
            yield url
    finally:
        server.stop()
