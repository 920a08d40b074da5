"""Personalize item filters: the expression grammar CreateFilter accepts, filterValues, and which items a
filter leaves each user.

The supported part of Personalize's grammar for item recommendations:

    expression := ("EXCLUDE" | "INCLUDE") "ItemID" "WHERE" condition
    condition  := "Interactions" "." "EVENT_TYPE" "IN" "(" value ("," value)* ")"
                | "Items" "." FIELD "IN" "(" value ("," value)* ")"
    value      := STRING | "$"PARAMETER          (STRING: double-quoted, "*" meaning every event type)

Keywords, dataset and field names are read case-insensitively; placeholder parameters keep their case
(filterValues keys must match it). Anything else Personalize documents (chaining expressions with `|`,
AND/OR, NOT IN, comparisons, CurrentUser/CurrentItem, UserID filters, IF) is refused with
InvalidInputException naming the first part the local service cannot read.

Interactions filters read the dataset as it is when recommendations are made (not the solution version's
training snapshot), keeping each user's 100 most recent interactions per event type, as Personalize
documents; event types match case-insensitively.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recflow.personalize_local.errors import PersonalizeError, invalid_input
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.ranking import empty_rows

# Personalize considers up to this many of a user's most recent interactions per event type (a default
# quota; LocalSettings.filter_recent_per_event_type changes it).
RECENT_PER_EVENT_TYPE = 100
EVERY_EVENT_TYPE = "*"

Action = Literal["EXCLUDE", "INCLUDE"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"[^"]*")
  | (?P<parameter>\$[A-Za-z0-9_]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<operator><=|>=|!=|<|>|=)
  | (?P<punctuation>[.,()|])
    """,
    re.VERBOSE,
)
_FILTER_VALUES = re.compile(r'\s*"[^"]*"\s*(?:,\s*"[^"]*"\s*)*')


@dataclass(frozen=True)
class Token:
    kind: str  # string, parameter, word, number, operator, punctuation, end
    text: str
    position: int  # 0-based offset in the expression

    def is_word(self, word: str) -> bool:
        return self.kind == "word" and self.text.upper() == word.upper()


@dataclass(frozen=True)
class FilterExpression:
    """A parsed item filter: keep (INCLUDE) or drop (EXCLUDE) the items matched by `dataset.field IN values`."""

    text: str
    action: Action
    dataset: Literal["Interactions", "Items"]
    field: str  # upper case: EVENT_TYPE, or the Items field
    values: tuple[str, ...]  # literal values, without quotes
    parameters: tuple[str, ...]  # placeholder names, without "$", in order of appearance

    def values_for(self, filter_values: Mapping[str, str] | None, filter_arn: str) -> tuple[str, ...] | None:
        """The values `IN (…)` stands for once `filter_values` fill the placeholders; None when the
        expression does not apply (an EXCLUDE whose values are all placeholders left unset, which
        Personalize then ignores). InvalidInputException for a missing INCLUDE value, a parameter the
        expression lacks, or a badly quoted value."""
        given = dict(filter_values or {})
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            expected = ", ".join(f"${name}" for name in self.parameters) or "no placeholder parameters"
            raise invalid_input(
                f"filterValues has {', '.join(unknown)}, which the filter {filter_arn} does not use "
                f"(its expression has {expected})."
            )
        values = list(self.values)
        for name in self.parameters:
            if name in given:
                values += parse_filter_values(given[name], name)
            elif self.action == "INCLUDE":
                raise invalid_input(
                    f"The filter {filter_arn} includes items by ${name}: filterValues must give a value for "
                    f"{name} (an INCLUDE filter needs every parameter)."
                )
        return tuple(values) if values else None


def parse_expression(text: str) -> FilterExpression:
    """The expression CreateFilter was given, or InvalidInputException naming what cannot be read."""
    return _Parser(text).expression()


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _cannot_read(text, position, text[position : position + 20], "a character outside the grammar")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_filter_values(text: str, name: str) -> list[str]:
    """`"click","watch"` (a filterValues entry: double-quoted values separated by commas) as a list."""
    if not _FILTER_VALUES.fullmatch(text):
        raise invalid_input(
            f'filterValues {name} must be double-quoted values separated by commas, such as "\\"click\\",\\"watch\\"", '
            f"not {text!r}."
        )
    values: list[str] = re.findall(r'"([^"]*)"', text)
    return values


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def fail(self, expected: str) -> PersonalizeError:
        token = self.current
        found = token.text if token.kind != "end" else "the end of the expression"
        return _cannot_read(self.text, token.position, found, f"expected {expected}")

    def keyword(self, word: str, expected: str | None = None) -> Token:
        if not self.current.is_word(word):
            raise self.fail(expected or word)
        return self.advance()

    def punctuation(self, mark: str) -> Token:
        if self.current.kind != "punctuation" or self.current.text != mark:
            raise self.fail(f'"{mark}"')
        return self.advance()

    def expression(self) -> FilterExpression:
        if not (self.current.is_word("EXCLUDE") or self.current.is_word("INCLUDE")):
            raise self.fail("EXCLUDE or INCLUDE")
        action = self.advance().text.upper()
        self.keyword("ItemID", "ItemID (the local service filters items only, not users or actions)")
        self.keyword("WHERE")
        dataset, field = self.identifier()
        self.keyword("IN", "IN (the local service supports only IN lists, not NOT IN or comparisons)")
        values, parameters = self.value_list(dataset, field)
        if self.current.kind != "end":
            raise self.fail(
                "the end of the expression (the local service supports one condition, without AND, OR, IF or |)"
            )
        return FilterExpression(
            self.text,
            "EXCLUDE" if action == "EXCLUDE" else "INCLUDE",
            dataset,
            field,
            tuple(values),
            tuple(parameters),
        )

    def identifier(self) -> tuple[Literal["Interactions", "Items"], str]:
        dataset = self.current
        if not (dataset.is_word("Interactions") or dataset.is_word("Items")):
            raise self.fail("Interactions.EVENT_TYPE or Items.<field>")
        self.advance()
        self.punctuation(".")
        field = self.current
        if field.kind != "word":
            raise self.fail("a field name")
        if dataset.is_word("Interactions") and not field.is_word("EVENT_TYPE"):
            raise self.fail("EVENT_TYPE (interactions filters can only use the event type)")
        self.advance()
        return ("Interactions" if dataset.is_word("Interactions") else "Items"), field.text.upper()

    def value_list(self, dataset: str, field: str) -> tuple[list[str], list[str]]:
        self.punctuation("(")
        values: list[str] = []
        parameters: list[str] = []
        while True:
            token = self.current
            if token.kind == "string":
                value = token.text[1:-1]
                if value == EVERY_EVENT_TYPE and (dataset, field) != ("Interactions", "EVENT_TYPE"):
                    raise self.fail('a value ("*" means every event type and only fits Interactions.EVENT_TYPE)')
                values.append(value)
            elif token.kind == "parameter":
                parameters.append(token.text[1:])
            else:
                raise self.fail("a double-quoted value or a $PARAMETER")
            self.advance()
            if self.current.kind == "punctuation" and self.current.text == ",":
                self.advance()
                continue
            self.punctuation(")")
            return values, list(dict.fromkeys(parameters))


def _cannot_read(text: str, position: int, found: str, why: str) -> PersonalizeError:
    return invalid_input(
        f"The local Personalize service cannot parse {found!r} at position {position + 1} of the filter expression "
        f"{text!r}: {why}."
    )


# ------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class RecentInteractions:
    """The interactions a filter considers: each user's most recent per event type (Personalize: 100),
    sorted by user."""

    users: np.ndarray  # str, sorted
    items: np.ndarray  # str
    event_types: np.ndarray  # str, lower case ("" when the dataset has no EVENT_TYPE)

    @classmethod
    def of(cls, data: Interactions, per_event_type: int = RECENT_PER_EVENT_TYPE) -> "RecentInteractions":
        events = data.columns.get("EVENT_TYPE")
        lowered = np.char.lower(events.astype(str)) if events is not None else np.full(len(data), "", dtype="<U1")
        raw = events.astype(str) if events is not None else lowered
        # Newest first within each (user, event type); the stable sort keeps file order among equal times.
        order = np.lexsort((-data.timestamps, raw, data.users))
        users, raw = data.users[order], raw[order]
        group_start = np.ones(len(order), dtype=bool)
        group_start[1:] = (users[1:] != users[:-1]) | (raw[1:] != raw[:-1])
        starts = np.flatnonzero(group_start)
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
        keep = rank < per_event_type
        return cls(users[keep], data.items[order][keep], lowered[order][keep])

    def matrix(self, event_types: Sequence[str], item_ids: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
        """(sorted user ids, users x `item_ids` binary matrix) of the interactions with one of `event_types`
        ("*": any) on items of the catalogue `item_ids` (sorted)."""
        wanted = {value.lower() for value in event_types}
        chosen = (
            np.ones(len(self.users), dtype=bool)
            if EVERY_EVENT_TYPE in wanted
            else np.isin(self.event_types, list(wanted))
        )
        users, items = self.users[chosen], self.items[chosen]
        columns = _positions(item_ids, items)
        users, columns = users[columns >= 0], columns[columns >= 0]
        user_ids, rows = np.unique(users, return_inverse=True)
        cells = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(user_ids), len(item_ids))
        )
        cells.sum_duplicates()
        cells.data[:] = 1.0
        return user_ids, cells


def user_rows(user_ids: np.ndarray, matrix: sp.csr_matrix, users: Sequence[str | None]) -> sp.csr_matrix:
    """The rows of `matrix` (one per sorted `user_ids`) for `users`; empty rows for unknown users or None."""
    keys = np.array([user if user is not None else "" for user in users], dtype=str)
    positions = _positions(user_ids, keys)
    known = positions >= 0
    rows = empty_rows(len(users), matrix.shape[1])
    if known.any():
        selector = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (np.flatnonzero(known), positions[known])),
            shape=(len(users), matrix.shape[0]),
        )
        rows = (selector @ matrix).tocsr()
    return rows


def _positions(sorted_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each key in `sorted_ids`, -1 where it is absent."""
    if len(sorted_ids) == 0 or len(keys) == 0:
        return np.full(len(keys), -1)
    positions = np.minimum(np.searchsorted(sorted_ids, keys), len(sorted_ids) - 1)
    return np.where(sorted_ids[positions] == keys, positions, -1)
