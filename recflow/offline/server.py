"""`recflow local serve`: a local AWS account with the stack deployed, over HTTP.

moto server runs in this process with recflow's extensions (the handlers in-process, Glue on DuckDB, the
local Personalize), and the stack is deployed from template.yaml on start, as `recflow local run` deploys
it. Any client pointed at the endpoint then sees an account where uploading to `raw/` starts a run
through the template's own EventBridge rule:

recflow local serve --port 4566
AWS_ENDPOINT_URL=http://127.0.0.1:4566 aws cloudformation describe-stacks --stack-name recflow
AWS_ENDPOINT_URL=http://127.0.0.1:4566 aws personalize-runtime get-recommendations --campaign-arn … --user-id 1

personalize-runtime shares the endpoint: it signs as "personalize", and moto_extensions routes its paths
(/recommendations, /personalize-ranking) to the local service's runtime (recflow/personalize_local/runtime.py).

Time runs on a ScaledClock: `time_scale` real seconds per simulated second, for the pipeline's waits and
Personalize's jobs alike, so a client polling a job from outside also sees it finish.

With a lake directory, the bucket's objects are restored from it on start (with the stack's rules paused,
so restoring starts no run), written back every `lake_sync_seconds` while serving and once more on stop.
Only new or changed objects are written; an object deleted from the bucket stays in the lake.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
from moto.core.config import default_user_config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from recflow_lambda.clients import clear_clients
from werkzeug.serving import BaseWSGIServer, make_server

from recflow.offline import lake
from recflow.offline.clock import ScaledClock
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import backend_app_with_aws_errors, bucket_policy_conditions_as_aws, extended_moto
from recflow.offline.runtime import offline_environment, rules_paused
from recflow.offline.stack import TEMPLATE, Stack, deploy_stack
from recflow.offline.template import REGION, Template
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

STACK_NAME = "recflow"
# Files of the lake that are not bucket objects: `recflow local run` writes its summaries there.
NOT_IN_BUCKET = ("runs/",)
# The server process's own credentials: its calls (the deployment, the handlers, the local Personalize's
# S3 reads) are signed like any request, and the server accepts any signature.
OFFLINE_CREDENTIALS = {"aws_access_key_id": "offline", "aws_secret_access_key": "offline"}


class ServeError(Exception):
    """The server could not start; the message says why and what to do."""


@dataclass(frozen=True)
class LocalServer:
    url: str
    stack: Stack
    startup_seconds: float  # from the call to the stack deployed and the lake restored
    restored: int  # objects restored from the lake
    trigger_errors: list[str]  # why an upload started no run (the start_run function's errors), as they occur


@contextmanager
def local_server(
    host: str = "127.0.0.1",
    port: int = 4566,
    settings: LocalSettings | None = None,
    *,
    stack_name: str = STACK_NAME,
    parameters: dict[str, str] | None = None,
    lake_dir: Path | None = None,
    time_scale: float = 0.001,
    lake_sync_seconds: float = 2.0,
) -> Iterator[LocalServer]:
    """Serve until the block ends; yields once the stack is deployed (and the lake restored).

    Raises TemplateError for bad `parameters` and ServeError for a port it cannot listen on, both before
    anything is deployed. On leaving the block the runs still going are stopped, the lake is written, then
    the server stops."""
    started = time.perf_counter()
    template = Template(TEMPLATE, parameters)
    clock = ScaledClock(scale=time_scale)  # ValueError for a scale ≤ 0
    server = _listen(host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    bound_port = server.server_address[1]
    url = f"http://{_reachable(host)}:{bound_port}"
    try:
        with (
            offline_environment(
                {"AWS_ENDPOINT_URL": url, "MOTO_PORT": str(bound_port), "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
            ),
            patch.dict(default_user_config, _MOTO_CONFIG),
        ):
            # moto's backends live in this process: a new server starts empty, like a new account (and
            # IAM's backend is rebuilt with AWS's managed policies).
            urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
            with (
                extended_moto(
                    clock,
                    GlueLocal(clock).run,
                    backend_factory(clock, lambda: _client("s3", url), default_trainer(), settings),
                ) as ext,
                bucket_policy_conditions_as_aws(),
            ):
                clear_clients()  # the handlers' cached clients may point at an earlier server
                stack = deploy_stack(stack_name, template, clock)
                with ExitStack() as serving:
                    restored = 0
                    if lake_dir is not None:
                        sync = serving.enter_context(
                            _LakeSync(_client("s3", url), stack.output("DataBucketName"), lake_dir)
                        )
                        restored = sync.restore()
                        sync.start(lake_sync_seconds)
                    # On leaving, first (callbacks run last-in first-out) stop the runs still going, so they
                    # do not go on without the extensions, then write the lake.
                    serving.callback(_stop_running_executions, _client("stepfunctions", url), _client("events", url))
                    yield LocalServer(url, stack, time.perf_counter() - started, restored, ext.trigger_errors)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        clear_clients()  # nothing cached may keep pointing at the stopped server


_MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},  # the handlers run in-process (moto_extensions section 1)
    "iam": {"load_aws_managed_policies": True},
}


def _listen(host: str, port: int) -> BaseWSGIServer:
    """Bind now, in this thread, so a busy port fails before the deployment. (moto's ThreadedMotoServer
    binds in its own thread and then waits forever; werkzeug alone prints and calls sys.exit.)"""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
            listener.bind(address)
            listener.listen(128)
            app = DomainDispatcherApplication(backend_app_with_aws_errors)
            # werkzeug serves a duplicate of the descriptor; this one closes on leaving the block.
            return make_server(host, port, app, threaded=True, fd=listener.fileno())
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use: stop what listens there or pick another with --port"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _stop_running_executions(sfn: Any, events: Any) -> None:
    # The rules first: a stopped run's end event must not start a follow-up run on a server going away.
    for rule in events.list_rules()["Rules"]:
        if rule["State"] == "ENABLED":
            events.disable_rule(Name=rule["Name"])
    for machine in sfn.list_state_machines()["stateMachines"]:
        running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
        for execution in running["executions"]:
            sfn.stop_execution(
                executionArn=execution["executionArn"], error="ServerStopped", cause="recflow local serve stopped"
            )


def _reachable(host: str) -> str:
    """The host part of a URL that reaches a server listening on `host`: a wildcard address is reached on
    loopback (so are moto's own Step Functions tasks, which call localhost:MOTO_PORT)."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _client(service: str, url: str) -> Any:
    # A session per client: the default session is shared with request threads and is not thread-safe.
    return boto3.session.Session().client(service, endpoint_url=url, region_name=REGION, **OFFLINE_CREDENTIALS)


class _LakeSync:
    """Keeps a lake directory in step with the bucket: restore once, then write new or changed objects."""

    def __init__(self, s3: Any, bucket: str, lake_dir: Path) -> None:
        self.s3, self.bucket, self.lake_dir = s3, bucket, lake_dir
        self._known: dict[str, str] = {}  # key -> ETag of what the lake holds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _LakeSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.write()

    def restore(self) -> int:
        objects = [(k, p) for k, p in lake.lake_objects(self.lake_dir, ("",)) if not k.startswith(NOT_IN_BUCKET)]
        with rules_paused():  # what was already in the bucket starts no run when it is put back
            lake.upload(self.s3, self.bucket, objects)
        self._known = lake.etags(self.s3, self.bucket)
        return len(objects)

    def start(self, every_seconds: float) -> None:
        def loop() -> None:
            while not self._stop.wait(every_seconds):
                try:
                    self.write()
                except Exception as error:  # keep serving; the write on stop tries again and raises
                    logging.getLogger(__name__).warning("could not write the lake: %s", error)

        self._thread = threading.Thread(target=loop, name="lake-sync", daemon=True)
        self._thread.start()

    def write(self) -> list[str]:
        """Write the objects new or changed since the last write; returns their keys."""
        with self._lock:
            current = lake.etags(self.s3, self.bucket)
            written = lake.download_new(self.s3, self.bucket, self.lake_dir, self._known)
            self._known = current
            return written
