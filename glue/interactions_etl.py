"""Glue job: raw HetRec ratings files -> Amazon Personalize interactions CSV, rejects and a report.

The transform is written once, as the SQL constants below, and runs unchanged on Spark SQL 3.5
(AWS Glue 5.0, this job) and on DuckDB (recflow/offline/etl.py loads this file by path).

Inputs are two relations that each runner creates:
- ``raw_lines(source VARCHAR, line VARCHAR)``: one row per physical line of every raw file, split on LF
  only, the LF removed and nothing else changed, except that bytes that are not UTF-8 become U+FFFD
  (as Java decodes them) and a BOM at the very start of a file is dropped (Hadoop's line reader does).
- ``etl_params(min_rating DOUBLE)``: one row; NULL keeps every rating.

The rules: a BOM starting a line and a CR ending it are ignored; a line of spaces is blank; a line whose
first field is "userID" (any case) and that is not valid data is a header; data is 4 tab-separated
fields: user id and item id of 1-256 characters from A-Z a-z 0-9 _ . : @ / + - (they go unquoted into
the CSV), a decimal rating, and a positive integer timestamp below 1e14, read as milliseconds from 1e11
up (per value: 1e11 ms is March 1973, 1e11 s the year 5138) and as seconds below. Anything else is
rejected with the first problem found. Lines rated below min_rating are counted and dropped; of the
same output row (user, item, seconds) only one is kept.

Every raw line lands in exactly one of: header, blank, rejected, below_min_rating, duplicate,
interaction; report.json counts each, so nothing is dropped silently (see ``check_report_adds_up``).

Dialect rules the SQL keeps to (each function checked on both engines): ``split_part`` and ``substring``
are 1-based in both; ``chr(9)``/``chr(13)`` for tab and CR and ``ascii(x) = 65279`` for a BOM keep the
SQL text ASCII; ``regexp_extract(x, '^...$', 0) = x`` is the full-match test (Spark has ``rlike``, DuckDB
``regexp_full_match``, neither has the other's; comparing with x also defeats Java's ``$`` matching
before a final line break); patterns have no backslashes (Spark unescapes them in string literals,
DuckDB does not), hence ``[.]`` and a tab put into a pattern with ``replace(..., ' ', chr(9))``;
``try_cast`` results are only used where a pattern has already matched, because the engines' casts
accept different spellings (Spark trims spaces, for one); ``floor`` before casting to BIGINT (DuckDB's
cast rounds, Spark's truncates); ``count(*) FILTER (WHERE ...)``; aliases upper-cased in the SQL give
the CSV header.

Glue ships only this one file, so it imports nothing from the project, and ``awsglue``/``pyspark`` are
imported inside the functions that need them (the module must import without them).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

CLASSIFY_LINES_SQL = """
-- One row per raw line, with the kind it turned out to be:
-- blank, header, rejected (with its reason), below_min_rating or accepted.
WITH without_bom AS (
    -- A BOM can still start a line in the middle of a file when files were concatenated.
    SELECT
        source,
        line,
        CASE WHEN ascii(line) = 65279 THEN substring(line, 2) ELSE line END AS text
    FROM raw_lines
),
cleaned AS (
    -- Readers split on LF only, so lines of CRLF files end in CR.
    SELECT
        source,
        line,
        CASE
            WHEN substring(text, length(text), 1) = chr(13) THEN substring(text, 1, length(text) - 1)
            ELSE text
        END AS text
    FROM without_bom
),
fields AS (
    SELECT
        source,
        line,
        text,
        split_part(text, chr(9), 1) AS user_id,
        split_part(text, chr(9), 2) AS item_id,
        split_part(text, chr(9), 3) AS rating_text,
        split_part(text, chr(9), 4) AS timestamp_text
    FROM cleaned
),
typed AS (
    SELECT
        *,
        -- The whole line in one pattern, a space standing for each tab (no pattern spells a tab the
        -- same way in both engines). It is the conjunction of the field checks in the CASE below,
        -- which only run for the lines it does not match.
        regexp_extract(
            text,
            replace(
                '^[A-Za-z0-9_.:@/+-]{1,256} [A-Za-z0-9_.:@/+-]{1,256} [+-]?[0-9]{1,9}([.][0-9]{1,9})? [0-9]+$',
                ' ',
                chr(9)
            ),
            0
        ) = text AS well_formed,
        -- Only read for well-formed lines, where both engines cast the same spellings
        -- (on other text they differ: Spark trims spaces, for one). NULL when the digits overflow.
        try_cast(rating_text AS DOUBLE) AS rating,
        try_cast(timestamp_text AS BIGINT) AS raw_timestamp
    FROM fields
),
judged AS (
    SELECT
        source,
        line,
        user_id,
        item_id,
        rating,
        raw_timestamp,
        -- 'ok', 'blank', 'header' or why the line is rejected (the first problem found).
        CASE
            -- 1e14 ms is the year 5138; below it the seconds stay exact through a DOUBLE.
            WHEN well_formed AND raw_timestamp BETWEEN 1 AND 99999999999999 THEN 'ok'
            WHEN trim(text) = '' THEN 'blank'
            WHEN lower(user_id) = 'userid' THEN 'header'
            WHEN length(text) - length(replace(text, chr(9), '')) <> 3 THEN 'expected 4 tab-separated fields'
            WHEN user_id = '' THEN 'empty user id'
            WHEN item_id = '' THEN 'empty item id'
            -- Ids are written unquoted into the CSV: no commas, quotes, spaces or control characters.
            WHEN regexp_extract(user_id, '^[A-Za-z0-9_.:@/+-]{1,256}$', 0) <> user_id
                THEN 'user id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -'
            WHEN regexp_extract(item_id, '^[A-Za-z0-9_.:@/+-]{1,256}$', 0) <> item_id
                THEN 'item id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -'
            WHEN rating_text = '' OR regexp_extract(rating_text, '^[+-]?[0-9]{1,9}([.][0-9]{1,9})?$', 0) <> rating_text
                THEN 'rating is not a number'
            WHEN timestamp_text = '' OR regexp_extract(timestamp_text, '^[0-9]+$', 0) <> timestamp_text
                OR raw_timestamp = 0
                THEN 'timestamp is not a positive integer'
            -- Every field check passed, so the line is well formed and only the range check in the
            -- first WHEN failed: the digits overflow BIGINT or are 1e14 and more.
            ELSE 'timestamp out of range'
        END AS verdict
    FROM typed
)
SELECT
    judged.source,
    CASE
        WHEN judged.verdict IN ('blank', 'header') THEN judged.verdict
        WHEN judged.verdict <> 'ok' THEN 'rejected'
        WHEN judged.rating < etl_params.min_rating THEN 'below_min_rating'
        ELSE 'accepted'
    END AS kind,
    CASE WHEN judged.verdict NOT IN ('ok', 'blank', 'header') THEN judged.verdict END AS reason,
    -- Only rejected lines are needed verbatim; keeping every line would double what is held in memory.
    CASE WHEN judged.verdict NOT IN ('ok', 'blank', 'header') THEN judged.line END AS rejected_line,
    judged.user_id,
    judged.item_id,
    -- The unit is decided per value, not per file: 1e11 s is the year 5138, 1e11 ms is March 1973.
    CASE
        WHEN judged.raw_timestamp >= 100000000000 THEN CAST(floor(judged.raw_timestamp / 1000) AS BIGINT)
        ELSE judged.raw_timestamp
    END AS event_seconds,
    CASE WHEN judged.raw_timestamp >= 100000000000 THEN 'milliseconds' ELSE 'seconds' END AS timestamp_unit
FROM judged
CROSS JOIN etl_params
"""

INTERACTIONS_SQL = """
-- The Personalize interactions dataset: accepted lines, exact duplicates of the output row dropped.
SELECT DISTINCT
    user_id AS USER_ID,
    item_id AS ITEM_ID,
    event_seconds AS TIMESTAMP
FROM classified_lines
WHERE kind = 'accepted'
ORDER BY USER_ID, TIMESTAMP, ITEM_ID
"""

REJECTS_SQL = """
SELECT source, rejected_line AS line, reason
FROM classified_lines
WHERE kind = 'rejected'
ORDER BY source, line, reason
"""

REPORT_COUNTS_SQL = """
-- Reads classified_lines and interactions (INTERACTIONS_SQL registered under that name).
WITH line_counts AS (
    SELECT
        count(*) AS lines_read,
        count(*) FILTER (WHERE kind = 'header') AS header_lines,
        count(*) FILTER (WHERE kind = 'blank') AS blank_lines,
        count(*) FILTER (WHERE kind = 'rejected') AS rejected,
        count(*) FILTER (WHERE kind = 'below_min_rating') AS below_min_rating,
        count(*) FILTER (WHERE kind = 'accepted') AS accepted,
        -- Over every line whose timestamp was read: duplicates and low ratings included.
        count(*) FILTER (
            WHERE kind IN ('accepted', 'below_min_rating') AND timestamp_unit = 'milliseconds'
        ) AS milliseconds,
        count(*) FILTER (
            WHERE kind IN ('accepted', 'below_min_rating') AND timestamp_unit = 'seconds'
        ) AS seconds
    FROM classified_lines
),
interaction_counts AS (
    SELECT
        count(*) AS interactions,
        count(DISTINCT USER_ID) AS users,
        count(DISTINCT ITEM_ID) AS items
    FROM interactions
),
active_users AS (
    SELECT count(*) AS users_with_2plus
    FROM (
        SELECT USER_ID
        FROM interactions
        GROUP BY USER_ID
        HAVING count(*) >= 2
    ) AS users_with_two_or_more
)
SELECT
    line_counts.lines_read,
    line_counts.header_lines,
    line_counts.blank_lines,
    line_counts.rejected,
    line_counts.accepted - interaction_counts.interactions AS duplicates_dropped,
    line_counts.below_min_rating,
    interaction_counts.interactions,
    interaction_counts.users,
    interaction_counts.items,
    active_users.users_with_2plus,
    line_counts.milliseconds,
    line_counts.seconds
FROM line_counts
CROSS JOIN interaction_counts
CROSS JOIN active_users
"""

REJECT_REASONS_SQL = """
SELECT reason, count(*) AS lines
FROM classified_lines
WHERE kind = 'rejected'
GROUP BY reason
ORDER BY reason
"""

SOURCE_FILES_SQL = """
-- The files that had at least one line (an empty file adds no line, so no count changes).
SELECT DISTINCT source
FROM classified_lines
ORDER BY source
"""

# Glue job arguments that may be left out, with their defaults.
OPTIONAL_ARGUMENTS = {"raw_prefix": "raw/", "min_rating": ""}


def parse_min_rating(value: str | None) -> float | None:
    """The --min_rating argument: "" (or absent) keeps every rating."""
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--min_rating must be a number or empty, got {value!r}.") from None


def build_report(
    counts: dict[str, int], reasons: list[tuple[str, int]], source_files: list[str], run_id: str | None = None
) -> dict[str, Any]:
    """report.json from the rows of REPORT_COUNTS_SQL, REJECT_REASONS_SQL and SOURCE_FILES_SQL."""
    counts = {name: int(value) for name, value in counts.items()}
    report: dict[str, Any] = {"run_id": run_id} if run_id is not None else {}
    report.update(
        {
            "source_files": list(source_files),
            "lines_read": counts["lines_read"],
            "header_lines": counts["header_lines"],
            "blank_lines": counts["blank_lines"],
            "rejected": counts["rejected"],
            "rejects_by_reason": {reason: int(lines) for reason, lines in reasons},
            "duplicates_dropped": counts["duplicates_dropped"],
            "below_min_rating": counts["below_min_rating"],
            "interactions": counts["interactions"],
            "users": counts["users"],
            "items": counts["items"],
            "users_with_2plus": counts["users_with_2plus"],
            "timestamp_units": {"milliseconds": counts["milliseconds"], "seconds": counts["seconds"]},
        }
    )
    check_report_adds_up(report)
    return report


def check_report_adds_up(report: dict[str, Any]) -> None:
    """Raise when a line is unaccounted for: every line read must land in exactly one count."""
    accounted = sum(
        report[name]
        for name in (
            "header_lines",
            "blank_lines",
            "rejected",
            "duplicates_dropped",
            "below_min_rating",
            "interactions",
        )
    )
    parsed = report["interactions"] + report["duplicates_dropped"] + report["below_min_rating"]
    problems = []
    if accounted != report["lines_read"]:
        problems.append(f"the line counts add up to {accounted}, not lines_read={report['lines_read']}")
    if sum(report["rejects_by_reason"].values()) != report["rejected"]:
        problems.append("rejects_by_reason does not add up to rejected")
    if sum(report["timestamp_units"].values()) != parsed:
        problems.append("timestamp_units does not add up to the parsed lines")
    if problems:
        raise RuntimeError(f"ETL report does not add up: {'; '.join(problems)}.")


def report_json(report: dict[str, Any]) -> str:
    """The text of report.json (the same on Glue and offline)."""
    return json.dumps(report, indent=2) + "\n"


def transform_dataframe(spark: Any, raw_lines_df: Any, min_rating: float | None) -> tuple[Any, Any, dict]:
    """Run the transform on Spark: (interactions_df, rejects_df, report without run_id).

    raw_lines_df has the columns source and line (see read_raw_lines). Registers the temporary views
    raw_lines, etl_params, classified_lines and interactions on the session; the last two are cached
    because the report and the outputs read them.
    """
    raw_lines_df.select("source", "line").createOrReplaceTempView("raw_lines")
    spark.createDataFrame([(min_rating,)], "min_rating double").createOrReplaceTempView("etl_params")
    spark.sql(CLASSIFY_LINES_SQL).persist().createOrReplaceTempView("classified_lines")
    interactions = spark.sql(INTERACTIONS_SQL).persist()
    interactions.createOrReplaceTempView("interactions")

    counts = spark.sql(REPORT_COUNTS_SQL).first().asDict()
    reasons = [(row["reason"], row["lines"]) for row in spark.sql(REJECT_REASONS_SQL).collect()]
    source_files = [row["source"] for row in spark.sql(SOURCE_FILES_SQL).collect()]
    report = build_report(counts, reasons, source_files)
    return interactions, spark.sql(REJECTS_SQL), report


def read_raw_lines(spark: Any, uris: list[str], root_uri: str) -> Any:
    """raw_lines for the files at uris; source is each file's URI with root_uri removed (the S3 key).

    Lines are split on LF only (Spark's default also splits on a lone CR, which would change lines), and
    decoded so that bytes that are not UTF-8 become U+FFFD instead of staying invalid inside Spark's
    strings. Paths are globs to Spark, so glob characters in keys are escaped; input_file_name() is
    URL-encoded (a space is %20, a + stays +), hence the decoding.
    """
    from pyspark.sql import functions as F

    if not uris:
        return spark.createDataFrame([], "source string, line string")
    literal_paths = [re.sub(r"([\\*?\[\]{}])", r"\\\1", uri) for uri in uris]
    file_uri = F.url_decode(F.replace(F.input_file_name(), F.lit("+"), F.lit("%2B")))
    return (
        spark.read.option("lineSep", "\n")
        .text(literal_paths)
        .select(
            F.when(file_uri.startswith(root_uri), file_uri.substr(len(root_uri) + 1, 1 << 30))
            .otherwise(file_uri)
            .alias("source"),
            F.decode(F.col("value").cast("binary"), "UTF-8").alias("line"),
        )
    )


def write_outputs(interactions_df: Any, rejects_df: Any, lake_uri: str, run_id: str) -> None:
    """Write the interactions CSV and the rejects JSON lines under lake_uri (s3://bucket or a file: URI)."""
    # Personalize imports every object under the interactions folder: no empty _SUCCESS marker there.
    hadoop_conf = interactions_df.sparkSession.sparkContext._jsc.hadoopConfiguration()
    hadoop_conf.set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    interactions_df.write.mode("overwrite").option("header", True).csv(f"{lake_uri}/transformed/{run_id}/interactions/")
    rejects_df.write.mode("overwrite").json(f"{lake_uri}/rejects/{run_id}/")


def list_raw_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every object under the raw prefix (a FULL import replaces the dataset, so a run reads them all)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
    return sorted(keys)


def resolve_arguments(argv: list[str]) -> dict[str, str]:
    """Glue job arguments; getResolvedOptions fails on absent names, so optional ones are asked for only if given."""
    from awsglue.utils import getResolvedOptions

    optional = [name for name in OPTIONAL_ARGUMENTS if f"--{name}" in argv]
    args = getResolvedOptions(argv, ["JOB_NAME", "bucket", "run_id", *optional])
    return {**OPTIONAL_ARGUMENTS, **args}


def main() -> None:
    """Glue entry point: read s3://bucket/raw_prefix, write transformed/<run-id>/ and rejects/<run-id>/."""
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    args = resolve_arguments(sys.argv)
    bucket, run_id = args["bucket"], args["run_id"]
    min_rating = parse_min_rating(args["min_rating"])

    spark_context = SparkContext.getOrCreate()
    glue_context = GlueContext(spark_context)
    spark = glue_context.spark_session
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)

    s3 = boto3.client("s3")
    keys = list_raw_keys(s3, bucket, args["raw_prefix"])
    raw_lines = read_raw_lines(spark, [f"s3://{bucket}/{key}" for key in keys], root_uri=f"s3://{bucket}/")
    interactions, rejects, report = transform_dataframe(spark, raw_lines, min_rating)

    write_outputs(interactions, rejects, f"s3://{bucket}", run_id)
    s3.put_object(
        Bucket=bucket,
        Key=f"transformed/{run_id}/report.json",
        Body=report_json({"run_id": run_id, **report}).encode(),
        ContentType="application/json",
    )
    job.commit()


if __name__ == "__main__":
    main()
