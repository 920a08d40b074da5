"""moto server with recflow's local Personalize: an endpoint URL for your own boto3 code.

On start the server deploys template.yaml as the stack `recflow` with its default parameters (the same
deployment as `recflow local run`): `describe_stacks(StackName="recflow")` lists its Outputs.

recflow local serve --port 4566
AWS_ENDPOINT_URL=http://127.0.0.1:4566 python my_script.py   # personalize, s3, … all answer locally
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer
from recflow_lambda.clients import clear_clients

from recflow.offline.clock import WallClock
from recflow.offline.environ import environment
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import bucket_policy_conditions_as_aws, extended_moto
from recflow.offline.stack import TEMPLATE, deploy_stack
from recflow.offline.template import REGION, Template
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

STACK_NAME = "recflow"


@contextmanager
def local_server(host: str = "127.0.0.1", port: int = 4566, settings: LocalSettings | None = None) -> Iterator[str]:
    """Serve until the block ends; yields the endpoint URL once the stack is deployed."""
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url = f"http://{bound_host}:{bound_port}"
    # moto's backends live in this process: a new server starts empty, like a new account.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    clock = WallClock()
    try:
        # What the service itself reads and writes (import data, batch output) goes through the same server.
        with (
            environment({"AWS_ENDPOINT_URL": url, **_credentials_if_missing()}),
            extended_moto(
                clock,
                GlueLocal(clock).run,
                backend_factory(clock, lambda: boto3.client("s3", endpoint_url=url), default_trainer(), settings),
            ),
            bucket_policy_conditions_as_aws(),
        ):
            clear_clients()  # the handlers' cached clients may point at an earlier server
            deploy_stack(STACK_NAME, Template(TEMPLATE), clock)
            yield url
    finally:
        server.stop()


def _credentials_if_missing() -> dict[str, str | None]:
    """The server's own calls (the deployment, the handlers) need credentials and a region, not real ones."""
    defaults = {"AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline", "AWS_DEFAULT_REGION": REGION}
    return {name: value for name, value in defaults.items() if not os.environ.get(name)}
