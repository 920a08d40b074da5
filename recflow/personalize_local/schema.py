"""Dataset schemas: moto implements the schema API, so the local service reads schemas from moto.

CreateSchema/DescribeSchema stay moto's own. The local service is given a `SchemaLookup` (offline:
recflow/offline/moto_extensions.py reads moto's Personalize backend) that answers a schema ARN with
the Avro JSON string exactly as CreateSchema received it, or None when there is no such schema.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recflow.personalize_local.errors import invalid_input, not_found

SchemaLookup = Callable[[str], str | None]  # schema ARN -> Avro JSON text, None when unknown

# Fields every Interactions schema must declare (Personalize rejects the dataset otherwise).
INTERACTIONS_REQUIRED = ("USER_ID", "ITEM_ID", "TIMESTAMP")


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: str  # Avro primitive: string, long, int, float, double, boolean
    nullable: bool


@dataclass(frozen=True)
class DatasetSchema:
    arn: str
    fields: tuple[SchemaField, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def field(self, name: str) -> SchemaField:
        return next(field for field in self.fields if field.name == name)


def load_schema(schema_arn: str, lookup: SchemaLookup) -> DatasetSchema:
    """The schema stored under `schema_arn`, ResourceNotFoundException when there is none."""
    text = lookup(schema_arn)
    if text is None:
        raise not_found("schema", schema_arn)
    return parse_schema(schema_arn, text)


def parse_schema(schema_arn: str, text: str) -> DatasetSchema:
    try:
        document = json.loads(text)
        fields = tuple(_field(raw) for raw in document["fields"])
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_input(f"The schema {schema_arn} is not a valid Avro record schema ({exc}).") from exc
    return DatasetSchema(arn=schema_arn, fields=fields)


def check_interactions_schema(schema: DatasetSchema) -> None:
    missing = [name for name in INTERACTIONS_REQUIRED if name not in schema.names]
    if missing:
        raise invalid_input(
            f"The schema {schema.arn} cannot be used for an Interactions dataset: it lacks the required "
            f"field(s) {', '.join(missing)}."
        )
    nullable = [name for name in INTERACTIONS_REQUIRED if schema.field(name).nullable]
    if nullable:
        raise invalid_input(f"The schema {schema.arn} must not make {', '.join(nullable)} nullable.")
    for name in ("USER_ID", "ITEM_ID"):
        if schema.field(name).type != "string":
            raise invalid_input(f"The schema {schema.arn} must declare {name} with type string.")
    if schema.field("TIMESTAMP").type not in ("long", "int"):
        raise invalid_input(f"The schema {schema.arn} must declare TIMESTAMP with type long.")


def _field(raw: dict[str, Any]) -> SchemaField:
    kind = raw["type"]
    nullable = False
    if isinstance(kind, list):  # a union such as ["null", "string"]
        nullable = "null" in kind
        others = [member for member in kind if member != "null"]
        if len(others) != 1:
            raise ValueError(f"field {raw['name']} has an unsupported union type {kind}")
        kind = others[0]
    if isinstance(kind, dict):  # {"type": "string", "categorical": true} and the like
        kind = kind["type"]
    return SchemaField(name=str(raw["name"]), type=str(kind), nullable=nullable)
