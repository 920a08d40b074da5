"""botocore sessions share their parsed data files (recflow/offline/botocore_data.py)."""

import boto3
import botocore.loaders
import botocore.session
import pytest

import recflow.offline  # noqa: F401 - importing the package shares the loaders


def test_sessions_parse_each_data_file_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    parsed: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counting(self: botocore.loaders.JSONFileLoader, file_path: str) -> object:
        parsed.append(file_path)
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counting)
    regions = [boto3.Session().get_available_regions("ec2") for _ in range(3)]
    clients = [boto3.Session(region_name="us-east-1").client("personalize") for _ in range(3)]

    assert regions[0] == regions[1] == regions[2] and "us-east-1" in regions[0]
    assert {client.meta.service_model.service_name for client in clients} == {"personalize"}
    assert len(parsed) == len(set(parsed))  # nothing parsed twice, endpoints.json included
    assert len(boto3.Session()._loader.search_paths) == len(set(boto3.Session()._loader.search_paths))


def test_another_data_path_gets_its_own_loader(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    default = botocore.session.Session().get_component("data_loader")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    other = botocore.session.Session().get_component("data_loader")

    assert other is not default
    assert other.search_paths[0] == str(tmp_path)
    assert botocore.session.Session().get_component("data_loader") is other
