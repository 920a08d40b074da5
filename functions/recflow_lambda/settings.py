"""Lambda configuration: the environment variables of template.yaml's Globals, as validated models.

Read per invocation (``Settings.from_env()`` inside the handler), never at import: offline, every
function runs in one process, and a variable missing on one function must fail that function with a
sentence naming the variable, not a KeyError somewhere in the domain code.
"""

import os
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    ValidationError,
)

from recflow_lambda.errors import ConfigurationError
from recflow_lambda.naming import NAME_PATTERN

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class Settings(BaseModel):
    """Variables every function sees (template.yaml Globals)."""

    model_config = ConfigDict(frozen=True)

    data_bucket: NonEmpty = Field(alias="DATA_BUCKET")
    name_prefix: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] = Field(alias="NAME_PREFIX")
    dataset_group_arn: NonEmpty = Field(alias="DATASET_GROUP_ARN")
    interactions_dataset_arn: NonEmpty = Field(alias="INTERACTIONS_DATASET_ARN")
    personalize_role_arn: NonEmpty = Field(alias="PERSONALIZE_ROLE_ARN")
    recipe_arn: NonEmpty = Field(alias="RECIPE_ARN")
    # Personalize accepts 1..500 results per batch inference input line.
    num_results: int = Field(default=25, ge=1, le=500, alias="NUM_RESULTS")
    # Empty means "score every user (or item) of the run".
    batch_users_key: str = Field(default="", alias="BATCH_USERS_KEY")
    notification_topic_arn: NonEmpty = Field(alias="NOTIFICATION_TOPIC_ARN")
    import_deadline_seconds: PositiveInt = Field(alias="IMPORT_DEADLINE_SECONDS")
    training_deadline_seconds: PositiveInt = Field(alias="TRAINING_DEADLINE_SECONDS")
    batch_deadline_seconds: PositiveInt = Field(alias="BATCH_DEADLINE_SECONDS")
    # The shortest wait between status checks (job_status.poll_wait_seconds); the template bounds it too.
    poll_min_seconds: int = Field(ge=30, le=900, alias="POLL_MIN_SECONDS")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Parse the environment; raise ConfigurationError naming every missing or invalid variable."""
        environ = os.environ if environ is None else environ
        aliases = [field.alias for field in cls.model_fields.values() if field.alias]
        # An empty value is treated as unset: SAM passes "" for optional parameters left blank.
        values = {alias: environ[alias] for alias in aliases if environ.get(alias, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from exc


class StartRunSettings(Settings):
    """start_run also needs the state machine it starts."""

    state_machine_arn: NonEmpty = Field(alias="STATE_MACHINE_ARN")


class SolutionSettings(Settings):
    """start_training and finish_run also need the solution (created by the custom resource)."""

    solution_arn: NonEmpty = Field(alias="SOLUTION_ARN")


class BatchSettings(Settings):
    """start_batch also needs the stack's filter (ExcludeSeenItems): empty when it is off."""

    filter_arn: str = Field(default="", alias="FILTER_ARN")


class CampaignSettings(Settings):
    """point_campaign also needs the stack's campaign (CampaignMinTPS > 0): an empty CAMPAIGN_ARN means none."""

    campaign_arn: str = Field(default="", alias="CAMPAIGN_ARN")
    campaign_min_tps: int = Field(default=0, ge=0, alias="CAMPAIGN_MIN_TPS")


def _describe(exc: ValidationError) -> str:
    missing = [str(error["loc"][0]) for error in exc.errors() if error["type"] == "missing"]
    invalid = [
        f"{error['loc'][0]} ({error['msg']})" if error["loc"] else error["msg"].removeprefix("Value error, ")
        for error in exc.errors()
        if error["type"] != "missing"
    ]
    parts = []
    if missing:
        noun = "variable" if len(missing) == 1 else "variables"
        parts.append(f"environment {noun} {', '.join(missing)} missing or empty")
    if invalid:
        parts.append(f"invalid environment: {'; '.join(invalid)}")
    return "Lambda configuration error: " + "; ".join(parts) + " (set them in template.yaml Globals)."
