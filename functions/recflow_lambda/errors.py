"""Exceptions raised by the task Lambdas.

Step Functions reports a Lambda error under the exception's class name, so the names of the first
group are the error names the state machine matches in its Retry and Catch fields: do not rename them.
Every message is one sentence saying what went wrong, where, and what to do.
"""


class RecflowError(Exception):
    """Base class: an expected failure whose message is meant for the person running the pipeline."""


# Error names matched by statemachine/pipeline.asl.json.
class DataCheckFailed(RecflowError):
    """The ETL output is missing, inconsistent, or too small for Amazon Personalize."""


class InvalidEvent(RecflowError):
    """The event a handler received does not have the shape the contract describes."""


class PersonalizeThrottled(RecflowError):
    """Personalize answered ThrottlingException or LimitExceededException: retry later."""


class JobFailed(RecflowError):
    """A Personalize job ended in CREATE FAILED."""


class JobStopped(RecflowError):
    """A Personalize job was stopped before it finished."""


class DeadlineExceeded(RecflowError):
    """A Personalize job did not finish within its phase deadline."""


class InputNotFound(RecflowError):
    """An S3 object the run needs does not exist."""


# Errors the state machine does not match by name (they reach its catch-all).
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
