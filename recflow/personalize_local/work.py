"""The real work of local Personalize jobs: reading an import, training a model, writing batch output.

Each function raises DataError or S3Problem with a sentence that becomes the job's failureReason.
"""

import posixpath
from typing import TYPE_CHECKING, Any

from recflow.personalize_local.interactions import (
    DataError,
    Interactions,
    import_shortfall,
    read_interactions_csv,
    training_shortfall,
)
from recflow.personalize_local.s3_objects import S3Uri, object_keys, read_text, write_text
from recflow.personalize_local.schema import DatasetSchema
from recflow.personalize_local.trainer import TrainedModel, Trainer

if TYPE_CHECKING:
    from recflow.personalize_local.batch import Answer


def read_import(s3: Any, data_location: str, schema: DatasetSchema) -> Interactions:
    """Every .csv object under a folder location (or the one object named), checked against `schema`."""
    location = S3Uri.parse(data_location)
    # Only .csv objects are data: Spark and Glue leave markers such as _SUCCESS next to their parts.
    keys = object_keys(s3, location, ".csv")
    if not keys:
        raise DataError(f"There are no .csv files at {location}.")
    parts = []
    for key in keys:
        text = read_text(s3, location.bucket, key)
        parts.append(read_interactions_csv(text, f"s3://{location.bucket}/{key}", schema))
    data = Interactions.concat(parts)
    shortfall = import_shortfall(len(data))
    if shortfall:
        raise DataError(shortfall)
    return data


def train(trainer: Trainer, data: Interactions, dataset_group_arn: str, recipe_arn: str, seed: int) -> TrainedModel:
    """The trainer's model of `data`, after Personalize's minimum-data checks."""
    shortfall = training_shortfall(data, dataset_group_arn)
    if shortfall:
        raise DataError(shortfall)
    try:
        return trainer.train(data, recipe_arn, seed)
    except ValueError as exc:
        raise DataError(f"Training failed: {exc}") from exc


def write_recommendations(
    s3: Any,
    trainer: Trainer,
    model: TrainedModel,
    input_path: str,
    output_path: str,
    num_results: int,
    answer: "Answer | None" = None,
) -> tuple[int, list[str]]:
    """Write `<input file name>.out` under `output_path` for the input object (or every object of an
    input folder); returns the number of input records and the keys written. `answer` answers the
    usable lines (see Trainer.recommend)."""
    source = S3Uri.parse(input_path)
    destination = S3Uri.parse(output_path)
    folder = destination.key if destination.is_folder else destination.key + "/"
    keys = object_keys(s3, source, "")
    if not keys:
        raise DataError(f"There is no input file at {source}.")
    records, written = 0, []
    for key in keys:
        # Blank lines carry no input record, so they get no output line either.
        lines = [line for line in read_text(s3, source.bucket, key).splitlines() if line.strip()]
        try:
            output = list(trainer.recommend(model, lines, num_results, answer))
        except ValueError as exc:
            raise DataError(f"Batch inference failed on s3://{source.bucket}/{key}: {exc}") from exc
        output_key = folder + posixpath.basename(key) + ".out"
        write_text(s3, destination.bucket, output_key, "".join(line + "\n" for line in output))
        records += len(lines)
        written.append(output_key)
    return records, written
