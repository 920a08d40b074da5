"""AWS-shaped error answers for the requests the local account cannot serve, in the asked service's protocol.

moto server answers an action it does not implement with an HTML page (a 500 from its NotImplementedError, a
404 when no route matches), which botocore and the AWS CLI cannot parse and retry. AWS answers in the
service's protocol, and botocore's service models say which: an error body with a code and a message in
JSON (json, rest-json), CBOR (smithy-rpc-v2-cbor), or XML (query, ec2, rest-xml). The same models tell which
operation a REST request is, from its method, path and query, so the message can name it.
"""

from __future__ import annotations

import functools
import json
import re
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import OperationModel, ServiceModel

NOT_IMPLEMENTED: Final = "NotImplemented"  # S3's code for functionality it does not have; here for any service
# moto backend names that are not botocore service names once dashes are dropped
_MOTO_NAMES: Final = {
    "awslambda": "lambda",
    "awslambda_simple": "lambda",
    "dynamodb_v20111205": "dynamodb",
    "s3bucket_path": "s3",
}


@dataclass(frozen=True)
class HttpRequest:
    """What identifies an AWS API call: method, decoded path, query parameters, headers and form fields."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # names in lower case
    form: Mapping[str, list[str]]  # a query-protocol body's fields (Action=…)


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    message: str


@dataclass(frozen=True)
class Call:
    """The service and operation a request asks for, as far as botocore's models tell."""

    model: ServiceModel | None
    protocol: str
    action: str  # `glue:ListMLTransforms`, or `glue request GET /path` when no operation matches

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0].split(" ", 1)[0]


def not_implemented(moto_service: str | None, request: HttpRequest, detail: str | None = None) -> ErrorAnswer:
    """501 NotImplemented for an action moto has no code for (or no route to); `detail` says what part of
    an action it lacks, when that is all it lacks."""
    call = identify(moto_service, request)
    lacking = f" ({detail})" if detail else ""
    message = f"The local AWS account (recflow local serve) does not implement {call.action}{lacking}."
    return render(call, 501, NOT_IMPLEMENTED, message)


def failed(moto_service: str | None, request: HttpRequest, error: BaseException) -> ErrorAnswer:
    """500 for an action that raised inside the server, naming the action, the error and where it was raised."""
    call = identify(moto_service, request)
    code = "InternalError" if call.service == "s3" else "InternalFailure"
    message = (
        f"The local AWS account (recflow local serve) failed on {call.action} "
        f"({type(error).__name__}: {error}, at {_raised_at(error)})."
    )
    return render(call, 500, code, message)


def _raised_at(error: BaseException) -> str:
    """`moto/s3/responses.py:1636`: the innermost frame, its path from the package directory."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    path = Path(frames[-1].filename)
    for parent in path.parents:
        if parent.name in ("site-packages", "dist-packages"):
            path = path.relative_to(parent)
            break
    return f"{path.as_posix()}:{frames[-1].lineno}"


def identify(moto_service: str | None, request: HttpRequest) -> Call:
    """The call a request makes, looked up in the models of the service moto routed it to, and of the
    services named like it (personalize-runtime shares personalize's signing name, and moto's route)."""
    names = _candidates(moto_service or _signing_name(request.headers) or "")
    models = [model for model in (_service_model(name) for name in names) if model is not None]
    for model in models:
        protocol = _protocol(model, request)
        operation = _operation(model, protocol, request)
        if operation is not None:
            return Call(model, protocol, f"{model.signing_name}:{operation}")
    if not models:
        return Call(None, "json", f"{names[0] if names else 'unknown'} request {request.method} {request.path}")
    model = models[0]
    return Call(model, _protocol(model, request), f"{model.signing_name} request {request.method} {request.path}")


def render(call: Call, status: int, code: str, message: str) -> ErrorAnswer:
    """An error body botocore's parser for the call's protocol reads back as (code, message)."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if call.protocol in ("json", "rest-json"):
        version = call.model.metadata.get("jsonVersion", "1.1") if call.model is not None else "1.1"
        content_type = f"application/x-amz-json-{version}" if call.protocol == "json" else "application/json"
        body = json.dumps({"__type": code, "message": message}).encode()
        return ErrorAnswer(status, {**headers, "Content-Type": content_type, "x-amzn-ErrorType": code}, body, message)
    if call.protocol == "smithy-rpc-v2-cbor":
        cbor = {**headers, "Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
        return ErrorAnswer(status, cbor, _cbor_text_map({"__type": code, "message": message}), message)
    error = f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
    if call.protocol == "ec2":
        xml = f"<Response><Errors><Error>{error}</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    elif call.protocol == "rest-xml" and call.service == "s3":
        xml = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
    else:  # query, and the other rest-xml services (Route 53, CloudFront)
        fault = "Sender" if status < 500 else "Receiver"
        error = f"<Error><Type>{fault}</Type>{error}</Error><RequestId>{request_id}</RequestId>"
        xml = f"<ErrorResponse>{error}</ErrorResponse>"
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode()
    return ErrorAnswer(status, {**headers, "Content-Type": "text/xml"}, body, message)


@functools.cache
def _service_model(name: str) -> ServiceModel | None:
    session = _session()
    return session.get_service_model(name) if name in session.get_available_services() else None


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _candidates(name: str) -> list[str]:
    """The botocore services behind a moto backend (or signing) name: itself first, then `name-*`."""
    available = _session().get_available_services()
    undashed = {service.replace("-", ""): service for service in available}
    own = _MOTO_NAMES.get(name) or (name if name in available else undashed.get(name))
    if own is None:
        return []
    return [own, *sorted(s for s in available if s.startswith(f"{own}-"))]


def _signing_name(headers: Mapping[str, str]) -> str | None:
    """The service of a SigV4 credential scope: `Credential=KEY/20260101/us-east-1/glue/aws4_request`."""
    found = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("authorization", ""))
    return found.group(1) if found else None


def _protocol(model: ServiceModel, request: HttpRequest) -> str:
    """The protocol the request was sent in, for services that accept several (CloudWatch, SQS)."""
    protocols = model.metadata.get("protocols", [model.protocol])
    if request.headers.get("smithy-protocol") == "rpc-v2-cbor" and "smithy-rpc-v2-cbor" in protocols:
        return "smithy-rpc-v2-cbor"
    if "x-amz-target" in request.headers and "json" in protocols:
        return "json"
    if _form(request).get("Action") and {"query", "ec2"} & set(protocols):
        return "ec2" if "ec2" in protocols else "query"
    return str(model.protocol)


def _operation(model: ServiceModel, protocol: str, request: HttpRequest) -> str | None:
    if protocol == "smithy-rpc-v2-cbor":  # POST /service/{ServiceName}/operation/{Operation}
        name = request.path.rstrip("/").rsplit("/", 1)[-1]
    elif protocol == "json":
        name = request.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
    elif protocol in ("query", "ec2"):
        name = (_form(request).get("Action") or [""])[0]
    else:
        return _rest_operation(model, request)
    return name if name in model.operation_names else None


def _form(request: HttpRequest) -> dict[str, list[str]]:
    return {**request.query, **request.form}


def _rest_operation(model: ServiceModel, request: HttpRequest) -> str | None:
    """The operation whose HTTP binding (method, path template, fixed query, required query parameters and
    headers) fits the request best: GetBucketIntelligentTieringConfiguration over the List… of the same URI."""
    best: tuple[tuple[int, int], str] | None = None
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.http.get("method") != request.method:
            continue
        score = _fit(operation, request)
        if score is not None and (best is None or score > best[0]):
            best = (score, name)
    return best[1] if best else None


def _fit(operation: OperationModel, request: HttpRequest) -> tuple[int, int] | None:
    """(query and header requirements met, literal characters of the path template), None if it does not fit."""
    template, _, fixed_query = str(operation.http.get("requestUri", "/")).partition("?")
    if not re.fullmatch(_path_pattern(template), request.path.rstrip("/") or "/"):
        return None
    needs = 0
    for key, value in parse_qsl(fixed_query, keep_blank_values=True):
        if key not in request.query or (value and value not in request.query[key]):
            return None
        needs += 1
    shape = operation.input_shape
    for member in shape.required_members if shape is not None else []:
        serialization = shape.members[member].serialization
        location, wire_name = serialization.get("location"), str(serialization.get("name", member))
        present = {"querystring": wire_name in request.query, "header": wire_name.lower() in request.headers}
        if location not in present:
            continue  # in the path (matched above) or the body
        if not present[location]:
            return None
        needs += 1
    return needs, len(re.sub(r"\{[^}]+\}", "", template))


@functools.cache
def _path_pattern(template: str) -> str:
    parts = re.split(r"(\{[^}]+\})", template.rstrip("/") or "/")
    return "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
    )


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """CBOR (RFC 8949) for a map of text strings: enough for an error body, without a CBOR library."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        size = 1 if length < 0x100 else 2 if length < 0x10000 else 4
        return bytes([major << 5 | {1: 24, 2: 25, 4: 26}[size]]) + length.to_bytes(size, "big")

    def text(value: str) -> bytes:
        encoded = value.encode()
        return head(3, len(encoded)) + encoded

    return head(5, len(values)) + b"".join(text(key) + text(value) for key, value in values.items())
