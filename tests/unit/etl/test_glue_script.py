"""The Glue script as a deployable file: what it imports, its arguments, its S3 listing, its report check."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recflow.offline.etl import GLUE_SCRIPT, load_glue_script

glue = load_glue_script()


def test_the_script_imports_only_the_standard_library_at_module_level() -> None:
    tree = ast.parse(GLUE_SCRIPT.read_text())
    top_level = {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }

    assert top_level <= set(sys.stdlib_module_names) | {"__future__"}


def test_the_script_loads_where_pyspark_and_awsglue_are_missing() -> None:
    code = (
        "import sys, importlib.util\n"
        "sys.modules['pyspark'] = sys.modules['awsglue'] = sys.modules['recflow'] = None\n"
        f"spec = importlib.util.spec_from_file_location('job', {str(GLUE_SCRIPT)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(callable(module.main), callable(module.transform_dataframe))\n"
    )

    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert completed.stdout.strip() == "True True", completed.stderr


@pytest.mark.parametrize(("value", "expected"), [("", None), ("  ", None), (None, None), ("3.5", 3.5), ("4", 4.0)])
def test_min_rating_argument(value: str | None, expected: float | None) -> None:
    assert glue.parse_min_rating(value) == expected


def test_a_bad_min_rating_is_one_clear_sentence() -> None:
    with pytest.raises(ValueError, match=r"^--min_rating must be a number or empty, got 'high'\.$"):
        glue.parse_min_rating("high")


def fake_get_resolved_options(argv: list[str], names: list[str]) -> dict[str, Any]:
    """Like awsglue.utils.getResolvedOptions: every name asked for must be given."""
    given = dict(zip(argv[1::2], argv[2::2], strict=False))
    missing = [name for name in names if f"--{name}" not in given]
    if missing:
        raise SystemExit(f"the following arguments are required: {missing}")
    return {name: given[f"--{name}"] for name in names}


def test_optional_job_arguments_get_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    awsglue = types.ModuleType("awsglue")
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = fake_get_resolved_options  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awsglue", awsglue)
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)

    minimal = glue.resolve_arguments(["job.py", "--JOB_NAME", "j", "--bucket", "b", "--run_id", "r"])
    full = glue.resolve_arguments(
        ["job.py", "--JOB_NAME", "j", "--bucket", "b", "--run_id", "r", "--raw_prefix", "in/", "--min_rating", "4"]
    )

    assert minimal == {"JOB_NAME": "j", "bucket": "b", "run_id": "r", **glue.OPTIONAL_ARGUMENTS}
    assert (minimal["raw_prefix"], minimal["min_rating"], minimal["input_format"]) == ("raw/", "", "auto")
    assert (full["raw_prefix"], full["min_rating"]) == ("in/", "4")


@mock_aws
def test_list_raw_keys_reads_every_object_under_the_prefix_but_folder_markers() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    for key in ("raw/", "raw/b.dat", "raw/a/c.dat", "rawish.dat", "transformed/x.csv"):
        s3.put_object(Bucket="lake", Key=key, Body=b"")

    assert glue.list_raw_keys(s3, "lake", "raw/") == ["raw/a/c.dat", "raw/b.dat"]


def test_a_report_that_does_not_add_up_is_refused() -> None:
    counts = dict.fromkeys(
        ["lines_read", "header_lines", "blank_lines", "rejected", "duplicates_dropped", "below_min_rating"], 0
    )
    counts |= {"interactions": 1, "users": 1, "items": 1, "users_with_2plus": 0, "milliseconds": 1, "seconds": 0}

    with pytest.raises(RuntimeError, match="the line counts add up to 1, not lines_read=0"):
        glue.build_report(counts, [], ["raw/a.dat"])


def test_the_template_passes_every_optional_argument_from_its_parameter() -> None:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.loads((GLUE_SCRIPT.parents[1] / "template.yaml").read_text())
    arguments = template["Resources"]["EtlJob"]["Properties"]["DefaultArguments"]
    parameters = {
        "--min_rating": "MinRating",
        "--input_format": "InputFormat",
        **{f"--{glue.ROLE_ARGUMENTS[role]}": name for role, name in glue.ROLE_PARAMETERS.items()},
        "--max_rejected_share": "MaxRejectedShare",
    }

    assert set(arguments) == {"--job-language", "--bucket", *(f"--{name}" for name in glue.OPTIONAL_ARGUMENTS)}
    assert {name: arguments[name]["Ref"] for name in parameters} == parameters
    assert template["Parameters"]["InputFormat"]["AllowedValues"] == list(glue.INPUT_FORMATS)
    assert template["Parameters"]["MaxRejectedShare"]["Default"] == glue.OPTIONAL_ARGUMENTS["max_rejected_share"]


def test_options_come_from_the_job_arguments() -> None:
    options = glue.parse_options(
        {"--input_format": "CSV", "--user_column": " uid ", "--item_column": "", "--max_rejected_share": "0.25"}
    )

    assert options == glue.EtlOptions("csv", {"user": "uid"}, None, 0.25)
