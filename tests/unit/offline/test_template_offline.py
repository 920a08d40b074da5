from pathlib import Path

import pytest

from recflow.offline.template import Template, TemplateError

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def test_definition_substitutions_resolve_to_the_offline_arns():
    definition = Template(TEMPLATE).state_machine_definition()
    assert "${" not in definition
    assert '"arn:aws:lambda:us-east-1:123456789012:function:recflow-CheckJobFunction"' in definition
    assert '"JobName": "recflow-EtlJob"' in definition


def test_parameters_are_checked_like_cloudformation_checks_them():
    assert Template(TEMPLATE, {"NumResults": "50"}).parameters["NumResults"] == "50"
    with pytest.raises(TemplateError, match="NumResults=0 is outside 1..500"):
        Template(TEMPLATE, {"NumResults": "0"})
    with pytest.raises(TemplateError, match="Recipe must be one of"):
        Template(TEMPLATE, {"Recipe": "aws-hrnn"})
    with pytest.raises(TemplateError, match="unknown template parameter"):
        Template(TEMPLATE, {"Nope": "1"})


def test_functions_get_globals_and_their_own_environment():
    functions = {f.logical_id: f for f in Template(TEMPLATE).functions()}
    training = functions["StartTrainingFunction"].environment
    assert (
        training["SOLUTION_ARN"]
        == "arn:aws:personalize:us-east-1:123456789012:solution/recflow-aws-user-personalization-v2"
    )
    assert training["DATA_BUCKET"] == "recflow-databucket"
    assert "SOLUTION_ARN" not in functions["CheckJobFunction"].environment
