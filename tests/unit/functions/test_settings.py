import pytest
from lambda_env import ENVIRONMENT, SOLUTION_ARN
from recflow_lambda.errors import ConfigurationError
from recflow_lambda.handlers import start_import
from recflow_lambda.settings import Settings, SolutionSettings, StartRunSettings


def test_settings_are_parsed_and_typed_from_the_environment():
    settings = Settings.from_env()

    assert settings.data_bucket == ENVIRONMENT["DATA_BUCKET"]
    assert settings.num_results == 25
    assert settings.batch_users_key == ""
    assert settings.poll_min_seconds == 60
    assert settings.training_deadline_seconds == 43200


def test_solution_and_state_machine_arns_are_read_only_by_the_settings_that_need_them():
    assert SolutionSettings.from_env().solution_arn == SOLUTION_ARN
    assert StartRunSettings.from_env().state_machine_arn == ENVIRONMENT["STATE_MACHINE_ARN"]
    assert not hasattr(Settings.from_env(), "solution_arn")


def test_a_missing_variable_is_named_in_one_sentence(monkeypatch):
    monkeypatch.delenv("DATA_BUCKET")

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env()

    message = str(raised.value)
    assert message == (
        "Lambda configuration error: environment variable DATA_BUCKET missing or empty "
        "(set them in template.yaml Globals)."
    )


def test_an_empty_variable_counts_as_missing_and_several_are_listed(monkeypatch):
    monkeypatch.setenv("DATA_BUCKET", "")
    monkeypatch.delenv("SOLUTION_ARN")

    with pytest.raises(ConfigurationError, match="variables DATA_BUCKET, SOLUTION_ARN missing or empty"):
        SolutionSettings.from_env()


def test_an_invalid_variable_is_named_with_the_problem(monkeypatch):
    monkeypatch.setenv("NUM_RESULTS", "lots")

    with pytest.raises(ConfigurationError, match=r"invalid environment: NUM_RESULTS \(Input should be a valid integer"):
        Settings.from_env()


def test_num_results_defaults_to_25_but_is_bounded(monkeypatch):
    monkeypatch.delenv("NUM_RESULTS")
    assert Settings.from_env().num_results == 25

    monkeypatch.setenv("NUM_RESULTS", "501")
    with pytest.raises(ConfigurationError, match="NUM_RESULTS"):
        Settings.from_env()


@pytest.mark.parametrize("value", ["0", "29", "901", "soon"])
def test_a_poll_min_outside_the_templates_bounds_is_refused(monkeypatch, value):
    monkeypatch.setenv("POLL_MIN_SECONDS", value)

    with pytest.raises(ConfigurationError, match=r"invalid environment: POLL_MIN_SECONDS \("):
        Settings.from_env()


def test_a_name_prefix_personalize_would_refuse_is_refused(monkeypatch):
    monkeypatch.setenv("NAME_PREFIX", "-recflow")

    with pytest.raises(ConfigurationError, match="NAME_PREFIX"):
        Settings.from_env()


def test_settings_are_read_per_invocation_so_a_handler_fails_on_a_missing_variable(
    monkeypatch, load_event, lambda_context
):
    # Given a function whose DATASET_GROUP_ARN was removed after import
    monkeypatch.delenv("DATASET_GROUP_ARN")

    # When it is invoked, Then it fails naming the variable before calling any AWS API
    with pytest.raises(ConfigurationError, match="DATASET_GROUP_ARN"):
        start_import.handler(load_event("start_import"), lambda_context)
