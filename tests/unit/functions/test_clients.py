from recflow_lambda.clients import (
    clear_clients,
    personalize_client,
    s3_client,
    sns_client,
    stepfunctions_client,
)


def test_each_service_has_one_cached_client():
    assert personalize_client() is personalize_client()
    assert s3_client() is s3_client()
    assert sns_client().meta.service_model.service_name == "sns"
    assert stepfunctions_client().meta.service_model.service_name == "stepfunctions"


def test_clearing_the_clients_picks_up_a_new_endpoint(monkeypatch):
    # Given a client built for the default endpoint
    before = personalize_client()
    assert before.meta.endpoint_url == "https://personalize.us-east-1.amazonaws.com"

    # When the environment points Personalize elsewhere (as the offline runtime does) and clients are cleared
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", "http://127.0.0.1:5000")
    clear_clients()

    # Then the next client talks to the new endpoint
    after = personalize_client()
    assert after is not before
    assert after.meta.endpoint_url == "http://127.0.0.1:5000"
