"""Exceptions raised by the task Lambdas.

Step Functions reports a Lambda error under the exception's class name, so these class names are the
error names statemachine/pipeline.asl.json matches in its Retry and Catch fields: do not rename them.
Every message is one sentence saying what went wrong, where, and what to do.
tests/unit/test_contracts.py checks that MATCHED_BY_NAME and the state machine agree both ways.
"""


class RecflowError(Exception):
    """Base class: an expected failure whose message is meant for the person running the pipeline."""


class DataCheckFailed(RecflowError):
    """The ETL output is missing, inconsistent, or too small for Amazon Personalize."""


class InvalidEvent(RecflowError):
    """The event a handler received does not have the shape the contract describes."""


class PersonalizeThrottled(RecflowError):
    """Personalize answered ThrottlingException or LimitExceededException: retry later."""


class PersonalizeResourceInUse(RecflowError):
    """Personalize answered ResourceInUseException: a resource the call needs is busy (e.g. another import
    into the dataset is in progress, or the solution is not ACTIVE yet): retry once it is free."""


class JobFailed(RecflowError):
    """A Personalize job ended in CREATE FAILED."""


class JobStopped(RecflowError):
    """A Personalize job was stopped before it finished."""


class DeadlineExceeded(RecflowError):
    """A Personalize job did not finish within its phase deadline."""


class UnexpectedJobStatus(RecflowError):
    """A Personalize job reported a status the pipeline does not know (e.g. DELETE PENDING)."""


class InputNotFound(RecflowError):
    """An S3 object the run needs does not exist."""


class ConfigurationError(RecflowError):
    """An environment variable is missing or invalid."""


class PersonalizeRequestFailed(RecflowError):
    """A Personalize API call failed for a reason other than throttling."""


class PersonalizeResourceNotFound(PersonalizeRequestFailed):
    """Personalize answered ResourceNotFoundException."""


class PersonalizeResourceExists(PersonalizeRequestFailed):
    """Personalize answered ResourceAlreadyExistsException."""


class SolutionNotReady(RecflowError):
    """The solution custom resource could not bring the solution to the wanted state."""


class ResourceNotReady(RecflowError):
    """The filter or campaign custom resource could not bring its resource to the wanted state."""


# The outcomes the state machine retries or catches by name: each one's Catch leads to its phase's failure.
MATCHED_BY_NAME: tuple[type[RecflowError], ...] = (
    DataCheckFailed,
    InputNotFound,
    PersonalizeThrottled,
    PersonalizeResourceInUse,
    JobFailed,
    JobStopped,
    DeadlineExceeded,
    UnexpectedJobStatus,
)
# Faults of the code, its configuration or an AWS call: a task's States.ALL catch-all leads them to the
# same phase failure, under their own name. SolutionNotReady and ResourceNotReady fail a CloudFormation custom resource.
LEFT_TO_CATCH_ALL: tuple[type[RecflowError], ...] = (
    InvalidEvent,
    ConfigurationError,
    PersonalizeRequestFailed,
    PersonalizeResourceNotFound,
    PersonalizeResourceExists,
    SolutionNotReady,
    ResourceNotReady,
)
