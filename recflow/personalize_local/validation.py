"""Request validation against botocore's Personalize model, worded like AWS's own validation errors.

boto3 already checks required members and types on the client side, but requests also arrive from
Step Functions tasks and raw HTTP, and the server side checks more (name patterns, maximum lengths,
enum values), so the local service checks everything the model declares.
"""

import re

from botocore.model import OperationModel, Shape

from recflow.personalize_local.errors import PersonalizeError

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float, str),
    "structure": (dict,),
    "list": (list,),
    "map": (dict,),
}


def validate_request(operation: OperationModel, request: object) -> None:
    """Raise an error listing every constraint `request` breaks: InvalidInputException where the
    operation declares it (Personalize's choice), else AWS's common ValidationException."""
    problems: list[str] = []
    if operation.input_shape is not None:
        _check(operation.input_shape, request, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        declared = {error.name for error in operation.error_shapes}
        code = "InvalidInputException" if "InvalidInputException" in declared else "ValidationException"
        raise PersonalizeError(code, f"{count} validation {noun} detected: " + "; ".join(problems))


def _check(shape: Shape, value: object, path: str, problems: list[str]) -> None:
    expected = _PYTHON_TYPES.get(shape.type_name, (object,))
    # bool is an int in Python, but not an integer in the API.
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must be of type {shape.type_name}"
        )
        return
    # The isinstance checks below only narrow for mypy: the type check above already guarantees them.
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), problems)
    elif shape.type_name == "list" and isinstance(value, list):
        _check_size(shape, len(value), value, path, "length", problems)
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member", problems)
    elif shape.type_name == "map" and isinstance(value, dict):
        _check_size(shape, len(value), value, path, "length", problems)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems)
            _check(shape.value, item, f"{path}.{key}", problems)
    elif shape.type_name == "string" and isinstance(value, str):
        _check_size(shape, len(value), value, path, "length", problems)
        if shape.enum and value not in shape.enum:
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        pattern = _compiled(shape.metadata.get("pattern"))
        if pattern is not None and not pattern.fullmatch(value):
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must "
                f"satisfy regular expression pattern: {pattern.pattern}"
            )
    elif shape.type_name in ("integer", "long", "double", "float") and isinstance(value, int | float):
        _check_size(shape, value, value, path, "value", problems)


def _check_size(shape: Shape, size: float, value: object, path: str, what: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    op = "have length" if what == "length" else "be"
    if low is not None and size < low:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must "
            f"{op} greater than or equal to {low}"
        )
    if high is not None and size > high:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must "
            f"{op} less than or equal to {high}"
        )


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    """The model's Java-flavoured patterns; those Python's `re` cannot read (\\p{L}…) are skipped."""
    if pattern is None:
        return None
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern)
        except re.error:
            _PATTERNS[pattern] = None
    return _PATTERNS[pattern]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: object) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    text = str(value)
    return f"'{text[:100]}'" if isinstance(value, str) else text
