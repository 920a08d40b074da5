"""The batch inputs the Glue job writes on Spark are byte for byte those of the offline DuckDB run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recflow.offline.etl import load_glue_script, raw_files_in, run_etl

pytestmark = pytest.mark.spark

glue = load_glue_script()


def spark_outputs(spark: Any, lake: Path, out: Path, options: Any) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    """Run the Glue job's transform and write_outputs on Spark into out; the part files of each batch input."""
    uris = [f"file://{lake}/{key}" for key, _ in raw_files_in(lake)]
    raw, parquet, layouts = glue.read_inputs(spark, uris, f"file://{lake}/", options)
    interactions, rejects, report = glue.transform_dataframe(spark, raw, layouts, options, parquet)
    glue.write_outputs(interactions, rejects, f"file://{out}", "run-1")
    parts = {
        name: sorted((out / glue.batch_input_prefix("run-1", name)).glob("part-*")) for name in glue.BATCH_INPUT_SQL
    }
    return parts, report


@pytest.mark.parametrize("min_rating", [None, 3.0])
def test_spark_writes_the_same_batch_inputs_as_duckdb(
    spark: Any, nasty_lake: Path, tmp_path: Path, min_rating: float | None
) -> None:
    options = glue.parse_options({"min_rating": "" if min_rating is None else str(min_rating)})
    # When the nasty lake goes through the Glue job on Spark and through the offline ETL
    parts, spark_report = spark_outputs(spark, nasty_lake, tmp_path / "out", options)
    offline = run_etl(raw_files_in(nasty_lake), min_rating, "run-1")
    # Then each batch input is one part file, named like the offline one, with the same bytes
    for name, files in parts.items():
        assert [path.name[: len("part-00000")] for path in files] == ["part-00000"], name
        assert files[0].suffix == ".json"
        assert files[0].read_bytes() == offline.batch_inputs[name], name
    # And its records are the report's users and items, counted alike by both engines
    assert parts["users"][0].read_bytes().count(b"\n") == spark_report["users"] == offline.report["users"] > 5
    assert parts["items"][0].read_bytes().count(b"\n") == spark_report["items"] == offline.report["items"] > 5


def test_many_users_across_spark_partitions_come_out_as_one_sorted_file(spark: Any, tmp_path: Path) -> None:
    # Given more users than one task sorts, in an order that is not the sorted one
    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    rows = [f"{(u * 7919) % 5000}\t{u % 311}\t3\t{1162160236 + u}" for u in range(20_000)]
    (lake / "raw" / "ratings.dat").write_text("userID\tmovieID\trating\ttimestamp\n" + "\n".join(rows) + "\n")
    parts, _ = spark_outputs(spark, lake, tmp_path / "out", glue.EtlOptions())

    (users,) = parts["users"]
    ids = [line.removeprefix('{"userId":"').removesuffix('"}') for line in users.read_text().splitlines()]
    assert ids == sorted(str(u) for u in range(5000))
    assert users.read_bytes() == run_etl(raw_files_in(lake), None, "run-1").batch_inputs["users"]
