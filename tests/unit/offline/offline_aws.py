"""One mocked AWS account as the offline runtime sets it up, for tests that deploy the stack themselves."""

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws
from recflow_lambda.clients import clear_clients

from recflow.offline.clock import SimClock
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import bucket_policy_conditions_as_aws, extended_moto
from recflow.offline.runtime import _MOTO_CONFIG, offline_environment
from recflow.offline.template import REGION
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer


@contextmanager
def offline_aws(clock: SimClock) -> Iterator[None]:
    """moto with recflow's extensions, a local Glue and a local Personalize on `clock`, and the bucket
    policy's conditions evaluated as AWS does; clients the handlers cached are dropped on both sides."""
    with offline_environment(), mock_aws(config=_MOTO_CONFIG):
        clear_clients()
        s3 = lambda: boto3.client("s3", region_name=REGION)  # noqa: E731
        personalize = backend_factory(clock, s3, default_trainer(), LocalSettings())
        with extended_moto(clock, GlueLocal(clock).run, personalize), bucket_policy_conditions_as_aws():
            yield
    clear_clients()
