"""Reads template.yaml as written: its YAML short tags, its resources and its parameters, checked the way
CloudFormation checks them (moto's CloudFormation does not check AllowedValues, patterns or bounds).
Turning it into what is deployed is recflow/offline/sam.py's job (aws-sam-translator).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class TemplateError(Exception):
    """template.yaml cannot be used offline."""


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built
    """YAML loader that turns CloudFormation short tags (!Ref X) into their long form ({"Ref": X})."""


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TemplateError(f"template.yaml has a !{suffix} tag on an unexpected YAML node")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


class Template:
    """template.yaml as written (SAM), with its parameters checked like CloudFormation checks them."""

    def __init__(self, path: Path, parameters: dict[str, str] | None = None) -> None:
        self.path = path
        self.root = path.parent
        self.doc: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # _CfnLoader is a SafeLoader
        self.parameters = self._parameter_values(parameters or {})
        self.resources: dict[str, Any] = self.doc["Resources"]

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


def _check_number(name: str, value: str, spec: dict[str, Any]) -> None:
    try:
        number = float(value)
    except ValueError:
        raise TemplateError(f"parameter {name} must be a number, not {value!r}") from None
    low, high = spec.get("MinValue", float("-inf")), spec.get("MaxValue", float("inf"))
    if not low <= number <= high:
        raise TemplateError(f"parameter {name}={value} is outside {low}..{high}")
