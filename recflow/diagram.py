"""The state machine as a Mermaid flowchart, generated from its ASL, and the README's copy of it.

`recflow diagram --write README.md` puts the flowchart between the README's markers; a unit test
fails when that copy differs from what statemachine/pipeline.asl.json generates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

START_MARKER = "<!-- diagram:start -->"
END_MARKER = "<!-- diagram:end -->"

EdgeKind = Literal["next", "choice", "default", "catch", "end"]

# Ids for the start and end markers; state ids never take them.
START_ID = "asl_start"
END_ID = "asl_end"
# Words Mermaid's flowchart grammar reads as keywords, so they cannot be node ids.
_MERMAID_KEYWORDS = frozenset(
    {
        "end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click", "call",
        "href", "linkstyle", "interpolate",
    }
)  # fmt: skip
# The node shape of each state type: Mermaid's opening and closing brackets.
_SHAPES: dict[str, tuple[str, str]] = {
    "Task": ("[", "]"),
    "Choice": ("{", "}"),
    "Wait": ("[/", "/]"),
    "Pass": ("(", ")"),
    "Succeed": ("([", "])"),
    "Fail": ("([", "])"),
    "Parallel": ("[[", "]]"),
    "Map": ("[[", "]]"),
}
_OPERATORS = {
    "Equals": "=",
    "LessThan": "<",
    "GreaterThan": ">",
    "LessThanEquals": "<=",
    "GreaterThanEquals": ">=",
    "Matches": "matches",
}
_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")


class DiagramError(Exception):
    """The definition or the README cannot be read; the message is one sentence for the user."""


@dataclass(frozen=True)
class Edge:
    """One transition of the state machine, between state names (START_ID / END_ID for the markers).

    A catch edge's label has one line per catcher: its error names.
    """

    source: str
    target: str
    kind: EdgeKind
    label: str = ""


def load_definition(path: Path) -> dict[str, Any]:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagramError(f"{path} does not exist: pass the state machine definition with --asl PATH.") from None
    except json.JSONDecodeError as error:
        raise DiagramError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}).") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict) or not definition["States"]:
        raise DiagramError(f"{path} is not a state machine definition: it has no States.")
    if definition.get("StartAt") not in definition["States"]:
        raise DiagramError(f"{path} is not a state machine definition: its StartAt names no state.")
    for name, state in definition["States"].items():
        if not isinstance(state, dict) or "Type" not in state:
            raise DiagramError(f"{path}: state {name!r} has no Type.")
    for edge in edges(definition):
        if edge.target not in definition["States"] and edge.target != END_ID:
            raise DiagramError(f"{path}: state {edge.source!r} goes to {edge.target!r}, which is not a state.")
    return definition


def edges(definition: dict[str, Any]) -> list[Edge]:
    """Every transition, state by state in definition order: choices, default, next or end, catches."""
    result = [Edge(START_ID, definition["StartAt"], "next")]
    for name, state in definition["States"].items():
        for rule in state.get("Choices", []):
            result.append(Edge(name, rule["Next"], "choice", describe_rule(rule)))
        if "Default" in state:
            result.append(Edge(name, state["Default"], "default", "otherwise"))
        if "Next" in state:
            result.append(Edge(name, state["Next"], "next"))
        if state.get("End") is True:
            result.append(Edge(name, END_ID, "end"))
        # Catchers that lead to the same state are one edge, one line per catcher.
        catchers: dict[str, list[str]] = {}
        for catcher in state.get("Catch", []):
            catchers.setdefault(catcher["Next"], []).append(", ".join(catcher["ErrorEquals"]))
        for target, lines in catchers.items():
            result.append(Edge(name, target, "catch", "\n".join(lines)))
    return result


def describe_rule(rule: dict[str, Any]) -> str:
    """A Choice rule as a short condition: `import.status = ACTIVE`, `failure.Error matches States.*`."""
    if "And" in rule or "Or" in rule:
        joiner = " and " if "And" in rule else " or "
        return joiner.join(f"({describe_rule(sub)})" for sub in rule.get("And", rule.get("Or", [])))
    if "Not" in rule:
        return f"not ({describe_rule(rule['Not'])})"
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
    variable = _path(str(rule.get("Variable", "?")))
    for key, value in rule.items():
        if key in _TESTS:
            what = key.removeprefix("Is").lower()
            if key == "IsPresent":
                return f"{variable} is {'present' if value else 'absent'}"
            return f"{variable} is {'' if value else 'not '}{what}"
        for suffix, operator in _OPERATORS.items():
            for kind in ("String", "Numeric", "Boolean", "Timestamp"):
                if key == f"{kind}{suffix}":
                    return f"{variable} {operator} {_value(value)}"
                if key == f"{kind}{suffix}Path":
                    return f"{variable} {operator} {_path(str(value))}"
    return variable


def failure_states(definition: dict[str, Any]) -> list[str]:
    """States from which the run can only fail (it reaches no Succeed state and no End), in definition order.

    Empty when nothing ends the run successfully: then there is no success path to set them apart from.
    """
    states: dict[str, dict[str, Any]] = definition["States"]
    successes = {name for name, state in states.items() if state["Type"] == "Succeed" or state.get("End") is True}
    if not successes:
        return []
    reaches: dict[str, set[str]] = {name: set() for name in states}
    for edge in edges(definition):
        if edge.source in reaches and edge.target in states:
            reaches[edge.source].add(edge.target)
    can_succeed = set(successes)
    changed = True
    while changed:
        changed = False
        for name, targets in reaches.items():
            if name not in can_succeed and targets & can_succeed:
                can_succeed.add(name)
                changed = True
    return [name for name in states if name not in can_succeed]


def mermaid(definition: dict[str, Any]) -> str:
    """The flowchart: one node per state (shape by type), solid transitions, dashed catches."""
    states: dict[str, dict[str, Any]] = definition["States"]
    all_edges = edges(definition)
    ids = _node_ids(states)
    ids[START_ID], ids[END_ID] = START_ID, END_ID
    failing = failure_states(definition)
    lines = ["flowchart TD", f'    {START_ID}(("start"))']
    lines += [f"    {_node(ids[name], name, states[name])}" for name in states if name not in failing]
    if any(edge.target == END_ID for edge in all_edges):
        lines.append(f'    {END_ID}(("end"))')
    if failing:
        lines.append('    subgraph on_failure["On failure"]')
        lines += [f"        {_node(ids[name], name, states[name])}" for name in failing]
        lines.append("    end")
    for edge in all_edges:
        arrow = "-.->" if edge.kind == "catch" else "-->"
        label = f'|"{_escape(edge.label).replace(chr(10), "<br>")}"| ' if edge.label else ""
        lines.append(f"    {ids[edge.source]} {arrow} {label}{ids[edge.target]}")
    for kind, style in (("Succeed", "fill:#d3f9d8,stroke:#2b8a3e"), ("Fail", "fill:#ffe3e3,stroke:#c92a2a")):
        members = [ids[name] for name, state in states.items() if state["Type"] == kind]
        if members:
            lines.append(f"    classDef {kind.lower()} {style}")
            lines.append(f"    class {','.join(members)} {kind.lower()}")
    return "\n".join(lines) + "\n"


def markdown_block(definition: dict[str, Any]) -> str:
    return f"```mermaid\n{mermaid(definition)}```\n"


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagramError(f"{path} does not exist: pass the file that holds the diagram markers.") from None


def readme_block(text: str, where: str = "README.md") -> str:
    """What is between the markers, without the newlines right inside them."""
    start, end = _marker_positions(text, where)
    return text[start + len(START_MARKER) : end].strip("\n") + "\n"


def replace_readme_block(text: str, block: str, where: str = "README.md") -> str:
    start, end = _marker_positions(text, where)
    return f"{text[: start + len(START_MARKER)]}\n{block.strip(chr(10))}\n{text[end:]}"


def _marker_positions(text: str, where: str) -> tuple[int, int]:
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise DiagramError(
            f"{where} has no diagram markers: put {START_MARKER} and {END_MARKER} on their own lines where the "
            "diagram goes."
        )
    return start, end


def _node_ids(names: Iterable[str]) -> dict[str, str]:
    """Readable, unique ids from state names: "Did the ETL succeed?" -> did_the_etl_succeed."""
    taken = {START_ID, END_ID}
    ids: dict[str, str] = {}
    for name in names:
        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "state"
        if base in _MERMAID_KEYWORDS or base[0].isdigit():
            base = f"state_{base}"
        node_id, n = base, 2
        while node_id in taken:
            node_id, n = f"{base}_{n}", n + 1
        taken.add(node_id)
        ids[name] = node_id
    return ids


def _node(node_id: str, name: str, state: dict[str, Any]) -> str:
    opening, closing = _SHAPES.get(state["Type"], ("[", "]"))
    label = name if state["Type"] not in ("Parallel", "Map") else f"{name} ({state['Type']})"
    return f'{node_id}{opening}"{_escape(label)}"{closing}'


def _escape(text: str) -> str:
    # Mermaid's entity codes: a quote would end the label, < and > would be read as HTML.
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _path(path: str) -> str:
    return path.removeprefix("$.")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
