"""template.yaml to the CloudFormation template AWS deploys, the way `sam package` and `sam deploy` make it:
local artifacts (the functions' code, the state machine's definition, the Glue script) are uploaded to an
artifacts bucket and their URIs rewritten to S3, then aws-sam-translator applies the SAM transform.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from recflow.offline.cache import cache_dir, read_json, write_json
from recflow.offline.environ import environment
from recflow.offline.moto_extensions import AwsManagedPolicy

# The bucket `sam deploy` creates for artifacts; EtlRole's policy reads the Glue script from buckets named so.
ARTIFACTS_BUCKET = "aws-sam-cli-managed-default-samclisourcebucket-offline"

TRANSLATIONS_KEPT = 20  # translated templates kept in the cache, the newest

# The AWS managed policies SAM attaches to the roles it makes (a function's basic execution role, X-Ray
# tracing), with their documents as AWS publishes them. Offline the translator's managed policy loader
# answers from this table instead of calling iam:ListPolicies.
AWS_MANAGED_POLICIES = {
    policy.name: policy
    for policy in (
        AwsManagedPolicy(
            name="AWSLambdaBasicExecutionRole",
            path="/service-role/",
            default_version_id="v1",
            document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": "*",
                    }
                ],
            },
        ),
        AwsManagedPolicy(
            name="AWSXrayWriteOnlyAccess",
            path="/",
            default_version_id="v2",
            document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "xray:PutTraceSegments",
                            "xray:PutTelemetryRecords",
                            "xray:GetSamplingRules",
                            "xray:GetSamplingTargets",
                            "xray:GetSamplingStatisticSummaries",
                        ],
                        "Resource": ["*"],
                    }
                ],
            },
        ),
    )
}


def managed_policy_arn(policy: AwsManagedPolicy) -> str:
    return f"arn:aws:iam::aws:policy{policy.path}{policy.name}"


class _ManagedPolicyTable:
    """The translator's managed policy loader (name -> ARN), answering from AWS_MANAGED_POLICIES."""

    def load(self) -> dict[str, str]:
        return {name: managed_policy_arn(policy) for name, policy in AWS_MANAGED_POLICIES.items()}


def package(template: dict[str, Any], root: Path, s3: Any) -> dict[str, Any]:
    """A copy of the SAM template whose local artifact paths point at uploaded S3 objects."""
    packaged = copy.deepcopy(template)
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    uploaded: dict[Path, tuple[str, str]] = {}

    def upload(relative: str) -> tuple[str, str]:
        path = (root / relative).resolve()
        if path not in uploaded:
            body = _zip_directory(path) if path.is_dir() else path.read_bytes()
            # sam names artifacts by their MD5 (a content key, not a security use)
            key = hashlib.md5(body, usedforsecurity=False).hexdigest() + ("" if path.is_dir() else path.suffix)
            s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
            uploaded[path] = (ARTIFACTS_BUCKET, key)
        return uploaded[path]

    function_globals = packaged.get("Globals", {}).get("Function", {})
    if _is_local(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = _s3_uri(*upload(function_globals["CodeUri"]))
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function" and _is_local(properties.get("CodeUri")):
            properties["CodeUri"] = _s3_uri(*upload(properties["CodeUri"]))
        elif kind == "AWS::Serverless::StateMachine" and _is_local(properties.get("DefinitionUri")):
            bucket, key = upload(properties["DefinitionUri"])
            properties["DefinitionUri"] = {"Bucket": bucket, "Key": key}
        elif kind == "AWS::Glue::Job" and _is_local(properties.get("Command", {}).get("ScriptLocation")):
            properties["Command"]["ScriptLocation"] = _s3_uri(*upload(properties["Command"]["ScriptLocation"]))
    return packaged


def translate(template: dict[str, Any], parameters: dict[str, str], stack_name: str, region: str) -> dict[str, Any]:
    """The plain CloudFormation template aws-sam-translator makes of a packaged SAM template.

    Cached by everything the translation reads (the packaged template, whose artifact keys are content
    hashes, the parameters, stack name, region, managed policies and the translator's version): importing
    the translator and translating take about 0.7 s of every deployment, and most deploy the same template.
    """
    key = json.dumps(
        [template, parameters, stack_name, region, _ManagedPolicyTable().load(), _translator_version()],
        sort_keys=True,
    )
    path = cache_dir() / "sam" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    cached = read_json(path)
    if isinstance(cached, dict):
        return cached
    translated = _translate(template, parameters, stack_name, region)
    write_json(path, translated, keep=TRANSLATIONS_KEPT)
    return translated


def _translate(template: dict[str, Any], parameters: dict[str, str], stack_name: str, region: str) -> dict[str, Any]:
    from samtranslator.translator.transform import transform  # ~0.6 s to import: only when translating

    pseudo = {"AWS::Region": region, "AWS::Partition": "aws", "AWS::StackName": stack_name}
    # The translator asks boto3's default session for the region, whatever the pseudo parameters say.
    with environment({"AWS_DEFAULT_REGION": region}):
        translated: dict[str, Any] = transform(
            copy.deepcopy(template),
            {**parameters, **pseudo},
            _ManagedPolicyTable(),  # stands in for ManagedPolicyLoader: the translator only calls load()
        )
    # As CloudFormation receives it (JSON), the same whether it was just made or read from the cache.
    parsed: dict[str, Any] = json.loads(json.dumps(translated))
    return parsed


def _translator_version() -> str:
    return importlib.metadata.version("aws-sam-translator")


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def _s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _zip_directory(directory: Path) -> bytes:
    """The directory's files as a zip with fixed timestamps, so the same code gets the same key."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
