"""sam.translate answers a template it translated before from recflow's cache, and only that template."""

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recflow.offline import sam
from recflow.offline.template import REGION, Template

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def packaged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with mock_aws():
        template = Template(ROOT / "template.yaml")
        return sam.package(template.doc, ROOT, boto3.client("s3", region_name=REGION)), template.parameters


def counting_translations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    made: list[dict[str, str]] = []
    translate = sam._translate

    def counted(template: dict[str, Any], parameters: dict[str, str], stack_name: str, region: str) -> Any:
        made.append(parameters)
        return translate(template, parameters, stack_name, region)

    monkeypatch.setattr(sam, "_translate", counted)
    return made


def test_the_same_template_is_translated_once(packaged, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    template, parameters = packaged
    made = counting_translations(monkeypatch)

    first = sam.translate(template, parameters, "recflow", REGION)
    again = sam.translate(template, parameters, "recflow", REGION)

    assert again == first
    assert first["Resources"]["PipelineStateMachine"]["Type"] == "AWS::StepFunctions::StateMachine"
    assert len(made) == 1
    assert len(list((tmp_path / "recflow" / "sam").glob("*.json"))) == 1


def test_other_parameters_or_a_spoiled_entry_are_translated_again(
    packaged, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    template, parameters = packaged
    made = counting_translations(monkeypatch)
    sam.translate(template, parameters, "recflow", REGION)

    scheduled = sam.translate(template, {**parameters, "RetrainSchedule": "rate(1 day)"}, "recflow", REGION)
    for stored in (tmp_path / "recflow" / "sam").glob("*.json"):
        stored.write_text("{not json")
    repaired = sam.translate(template, parameters, "recflow", REGION)

    assert len(made) == 3
    assert any(r["Type"] == "AWS::Events::Rule" for r in scheduled["Resources"].values())
    assert repaired == sam.translate(template, parameters, "recflow", REGION)  # and cached once more
    assert len(made) == 3


def test_only_the_newest_translations_are_kept(packaged, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    template, parameters = packaged
    monkeypatch.setattr(sam, "TRANSLATIONS_KEPT", 2)
    for stack in ("a", "b", "c"):
        sam.translate(template, parameters, stack, REGION)

    assert len(list((tmp_path / "recflow" / "sam").glob("*.json"))) == 2
