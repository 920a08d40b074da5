"""Reads template.yaml the way the offline runtime needs it: parameters, Lambda functions, the
EventBridge trigger, the Glue job and the state machine's definition with its substitutions filled.

It resolves only the intrinsics template.yaml uses (Ref, GetAtt, Sub, If, Equals, Not), against the
physical names and ARNs the offline deployment gives each resource. It is not a CloudFormation engine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PLACEHOLDER = re.compile(r"\$\{([\w.:]+)\}")


class TemplateError(Exception):
    """template.yaml cannot be used offline."""


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref X) into their long form ({"Ref": X})."""


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    environment: dict[str, str]
    memory_size: int
    timeout: int
    events: dict[str, Any]


class Template:
    def __init__(self, path: Path, parameters: dict[str, str] | None = None, stack_name: str = "recflow") -> None:
        self.path = path
        self.root = path.parent
        self.doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        self.stack_name = stack_name
        self.parameters = self._parameter_values(parameters or {})
        self.resources: dict[str, Any] = self.doc["Resources"]

    # --- physical names, as the offline deployment creates them -------------------------------
    def physical_id(self, logical_id: str) -> str:
        """What `!Ref` returns for a resource offline."""
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{self.stack_name}-{logical_id.lower()}"
        if kind == "AWS::SNS::Topic":
            return self.arn(logical_id)
        if kind == "AWS::Serverless::StateMachine":
            return self.arn(logical_id)
        return f"{self.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = f"{self.stack_name}-{logical_id}"
        prefix = {
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role/",
            "AWS::S3::Bucket": "arn:aws:s3:::",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:",
        }.get(kind)
        if kind == "AWS::S3::Bucket":
            name = self.physical_id(logical_id)
        if prefix is None:
            return self.personalize_arn(logical_id)
        return prefix + name

    def personalize_arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        base = f"arn:aws:personalize:{REGION}:{ACCOUNT_ID}"
        props = self.resources[logical_id].get("Properties", {})
        if kind == "AWS::Personalize::DatasetGroup":
            return f"{base}:dataset-group/{self.resolve(props['Name'])}"
        if kind == "AWS::Personalize::Schema":
            return f"{base}:schema/{self.resolve(props['Name'])}"
        if kind == "AWS::Personalize::Dataset":
            group = self.resolve(props["DatasetGroupArn"]).rsplit("/", 1)[1]
            return f"{base}:dataset/{group}/{props['DatasetType'].upper()}"
        if kind == "Custom::PersonalizeSolution":
            return f"{base}:solution/{self.resolve(props['Name'])}"
        raise TemplateError(f"the offline runtime does not know the ARN of {logical_id} ({kind})")

    # --- intrinsics --------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((name, arg),) = value.items()
        if name == "Ref":
            return self._ref(arg)
        if name == "Fn::GetAtt":
            return self._get_att(*arg)
        if name == "Fn::Sub":
            return PLACEHOLDER.sub(lambda m: str(self._sub_var(m.group(1))), arg)
        if name == "Fn::If":
            condition, then, otherwise = arg
            return self.resolve(then if self.condition(condition) else otherwise)
        if name == "Fn::Equals":
            return self.resolve(arg[0]) == self.resolve(arg[1])
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        return {name: self.resolve(arg)}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.doc["Conditions"][name]))

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.physical_id(name)
        raise TemplateError(f"template.yaml refers to {name!r}, which is neither a parameter nor a resource")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Name":
            return self.arn(logical_id).rsplit(":", 1)[1]
        if attribute == "TopicName":
            return self.arn(logical_id).rsplit(":", 1)[1]
        return self.arn(logical_id)

    def _sub_var(self, name: str) -> Any:
        if "." in name:
            return self._get_att(*name.split(".", 1))
        return self._ref(name)

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, str]:
        declared = self.doc.get("Parameters", {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
        values = {}
        for name, spec in declared.items():
            value = str(overrides.get(name, spec.get("Default", "")))
            allowed = spec.get("AllowedValues")
            if allowed and value not in allowed:
                raise TemplateError(f"parameter {name} must be one of {', '.join(allowed)}, not {value!r}")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                raise TemplateError(f"parameter {name}={value!r} does not match {spec['AllowedPattern']}")
            if spec.get("Type") == "Number":
                _check_number(name, value, spec)
            values[name] = value
        return values

    # --- what the offline deployment creates ---------------------------------------------------
    def of_type(self, kind: str) -> list[str]:
        return [logical_id for logical_id, r in self.resources.items() if r["Type"] == kind]

    def functions(self) -> list[Function]:
        defaults = self.doc.get("Globals", {}).get("Function", {})
        global_env = self.resolve(defaults.get("Environment", {}).get("Variables", {}))
        result = []
        for logical_id in self.of_type("AWS::Serverless::Function"):
            props = self.resources[logical_id]["Properties"]
            env = {**global_env, **self.resolve(props.get("Environment", {}).get("Variables", {}))}
            result.append(
                Function(
                    logical_id=logical_id,
                    handler=props["Handler"],
                    environment={k: str(v) for k, v in env.items()},
                    memory_size=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
                    timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
                    events=props.get("Events", {}),
                )
            )
        return result

    def event_rules(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function logical id, event name, resolved pattern) for each EventBridgeRule event."""
        return [
            (fn.logical_id, name, self.resolve(event["Properties"]["Pattern"]))
            for fn in self.functions()
            for name, event in fn.events.items()
            if event["Type"] == "EventBridgeRule"
        ]

    def state_machine_definition(self, logical_id: str = "PipelineStateMachine") -> str:
        props = self.resources[logical_id]["Properties"]
        definition = (self.root / props["DefinitionUri"]).read_text()
        substitutions = {k: str(self.resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
        missing = sorted(set(PLACEHOLDER.findall(definition)) - set(substitutions))
        if missing:
            raise TemplateError(f"{props['DefinitionUri']} uses ${{{missing[0]}}} with no DefinitionSubstitution")
        # Substitute only ${Name}: the definition also holds JSONPath such as $$.Execution.Name.
        filled = PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], definition)
        json.loads(filled)
        return filled

    def glue_job(self, logical_id: str = "EtlJob") -> dict[str, Any]:
        props = self.resolve(self.resources[logical_id]["Properties"])
        return {
            "Name": self.physical_id(logical_id),
            "Role": props["Role"],
            "Command": props["Command"],
            "DefaultArguments": {k: str(v) for k, v in props.get("DefaultArguments", {}).items()},
            "Timeout": int(props.get("Timeout", 2880)),
            "GlueVersion": props.get("GlueVersion"),
            "ExecutionProperty": props.get("ExecutionProperty", {}),
        }


def _check_number(name: str, value: str, spec: dict[str, Any]) -> None:
    try:
        number = float(value)
    except ValueError:
        raise TemplateError(f"parameter {name} must be a number, not {value!r}") from None
    low, high = spec.get("MinValue", float("-inf")), spec.get("MaxValue", float("inf"))
    if not low <= number <= high:
        raise TemplateError(f"parameter {name}={value} is outside {low}..{high}")
