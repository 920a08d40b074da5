"""The error the local Personalize service answers with, carrying a real AWS error code."""


class PersonalizeError(Exception):
    """An API error: `code` is the AWS error code (e.g. "ResourceNotFoundException").

    The moto registration turns it into a JSON error response with that code, so boto3 raises a
    ClientError that reads exactly like one from Amazon Personalize.
    """

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def not_found(kind: str, arn: str) -> PersonalizeError:
    return PersonalizeError("ResourceNotFoundException", f"The {kind} {arn} does not exist.")


def already_exists(kind: str, arn: str) -> PersonalizeError:
    return PersonalizeError("ResourceAlreadyExistsException", f"The {kind} {arn} already exists.")


def invalid_input(message: str) -> PersonalizeError:
    return PersonalizeError("InvalidInputException", message)


def in_use(message: str) -> PersonalizeError:
    return PersonalizeError("ResourceInUseException", message)


def limit_exceeded(message: str) -> PersonalizeError:
    return PersonalizeError("LimitExceededException", message)
