"""The README's Mermaid diagram of the state machine: generated from the ASL, complete, and current.

The expected states and edges are read from the ASL here, and the Mermaid text is parsed here, so these
tests do not lean on the generator's own edge list.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from recflow.cli import app
from recflow.diagram import END_MARKER, START_MARKER, load_definition, markdown_block, mermaid, readme_block

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachine" / "pipeline.asl.json"
README = ROOT / "README.md"
DEFINITION: dict[str, Any] = json.loads(ASL.read_text())

# `id["label"]`, `id{"label"}`, `id(["label"])`… : a node declaration and its quoted label.
NODE = re.compile(r'^\s*(\w+)(?:\(\[|\(\(|\[\[|\[/|[\[({])"([^"]*)"')
# `a --> b`, `a -.-> |"label"| b`
EDGE = re.compile(r'^\s*(\w+) (-->|-\.->) (?:\|"([^"]*)"\| )?(\w+)$')
ENTITIES = {"#quot;": '"', "#lt;": "<", "#gt;": ">", "#35;": "#"}

runner = CliRunner()


def _unescape(label: str) -> str:
    for code, char in ENTITIES.items():
        label = label.replace(code, char)
    return label


def _parse(text: str) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """Node labels by id, and edges as (source label, arrow, edge label, target label)."""
    labels: dict[str, str] = {}
    raw_edges: list[tuple[str, str, str, str]] = []
    for line in text.splitlines():
        if edge := EDGE.match(line):
            raw_edges.append((edge[1], edge[2], _unescape(edge[3] or ""), edge[4]))
        elif node := NODE.match(line):
            labels[node[1]] = _unescape(node[2])
    return labels, [(labels[s], arrow, label, labels[t]) for s, arrow, label, t in raw_edges]


def _one_line(output: str) -> str:
    return " ".join(output.split())  # rich wraps long messages


def test_readme_diagram_matches_the_state_machine() -> None:
    # Given the README and the ASL it documents
    readme = README.read_text()

    # Then the README's diagram is the one the ASL generates
    assert readme_block(readme) == markdown_block(DEFINITION), (
        "README.md's state machine diagram is out of date: run `recflow diagram --write README.md`"
    )
    assert readme.index(START_MARKER) < readme.index("## The two commands")


def test_every_state_is_a_node_with_its_name() -> None:
    labels, _ = _parse(mermaid(DEFINITION))

    assert sorted(labels.values()) == sorted([*DEFINITION["States"], "start"])
    assert len(set(labels.values())) == len(labels)


def test_every_transition_of_the_asl_is_an_edge() -> None:
    # Given the transitions read straight from the ASL
    expected: dict[tuple[str, str, str], list[str]] = {(("start", "-->", DEFINITION["StartAt"])): []}
    for name, state in DEFINITION["States"].items():
        for target in (state.get("Next"), state.get("Default")):
            if target:
                expected.setdefault((name, "-->", target), [])
        for rule in state.get("Choices", []):
            # A test without a value (IsNull: false) is said in words ("is not null"): its variable is checked
            compared = [
                str(value)
                for key, value in rule.items()
                if key not in ("Variable", "Next") and not isinstance(value, bool)
            ]
            words = [rule["Variable"].removeprefix("$."), *compared]
            expected.setdefault((name, "-->", rule["Next"]), []).extend(words)
        for catcher in state.get("Catch", []):
            expected.setdefault((name, "-.->", catcher["Next"]), []).extend(catcher["ErrorEquals"])

    # When the diagram is parsed
    _, edges = _parse(mermaid(DEFINITION))

    # Then the edges are exactly those, each labelled with what it matches
    assert sorted((s, arrow, t) for s, arrow, _, t in edges) == sorted(expected)
    labels = {(s, arrow, t): label for s, arrow, label, t in edges}
    for key, words in expected.items():
        if key[1] == "-.->":
            assert sorted(re.split(r"<br>|, ", labels[key])) == sorted(words), key
        for word in words:
            assert word in labels[key], key
    catch_count = sum(len(state.get("Catch", [])) for state in DEFINITION["States"].values())
    assert sum(label.count("<br>") + 1 for s, arrow, label, t in edges if arrow == "-.->") == catch_count


def test_choice_edges_name_their_condition() -> None:
    _, edges = _parse(mermaid(DEFINITION))
    labels = {(s, t): label for s, _, label, t in edges}

    assert labels[("Is the import done?", "Start training")] == "import.status = ACTIVE"
    assert labels[("Is the import done?", "Wait for the import")] == "otherwise"
    assert labels[("Did the ETL succeed?", "Check data")] == "etl.JobRunState = SUCCEEDED"
    on_error = labels[("Is it a Step Functions error?", "Name the Step Functions error")]
    assert on_error == "failure.Error matches States.*"


def test_failure_handling_is_grouped_and_the_ends_are_styled() -> None:
    text = mermaid(DEFINITION)
    group = text[text.index('subgraph on_failure["On failure"]') : text.index("    end\n")]
    grouped = {_unescape(m[2]) for line in group.splitlines() if (m := NODE.match(line))}

    assert grouped == {
        "ETL did not succeed",
        "ETL job failed",
        "ETL failed",
        "Data check failed",
        "Import failed",
        "Training failed",
        "Batch failed",
        "Finish failed",
        "Is it a Step Functions error?",
        "Name the Step Functions error",
        "Notify failure",
        "Run failed",
    }
    assert "    class run_succeeded succeed\n" in text
    assert "    class run_failed fail\n" in text


TINY_ASL: dict[str, Any] = {
    "StartAt": 'Load "rows"',
    "States": {
        'Load "rows"': {
            "Type": "Task",
            "Resource": "${LoadFunctionArn}",
            "Next": "Enough?",
            "Catch": [{"ErrorEquals": ["TooFew"], "Next": "End"}, {"ErrorEquals": ["States.ALL"], "Next": "End"}],
        },
        "Enough?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.rows", "NumericGreaterThanEquals": 10, "Next": "Save"},
                {
                    "And": [
                        {"Variable": "$.retry", "BooleanEquals": True},
                        {"Variable": "$.limit", "IsPresent": False},
                    ],
                    "Next": "Wait a bit",
                },
            ],
            "Default": "End",
        },
        "Wait a bit": {"Type": "Wait", "Seconds": 5, "Next": 'Load "rows"'},
        "Save": {"Type": "Pass", "End": True},
        "End": {"Type": "Pass", "Next": "Give up"},
        "Give up": {"Type": "Fail", "Error": "NotEnoughRows"},
    },
}

TINY_MERMAID = """\
flowchart TD
    asl_start(("start"))
    load_rows["Load #quot;rows#quot;"]
    enough{"Enough?"}
    wait_a_bit[/"Wait a bit"/]
    save("Save")
    asl_end(("end"))
    subgraph on_failure["On failure"]
        state_end("End")
        give_up(["Give up"])
    end
    asl_start --> load_rows
    load_rows --> enough
    load_rows -.-> |"TooFew<br>States.ALL"| state_end
    enough --> |"rows #gt;= 10"| save
    enough --> |"(retry = true) and (limit is absent)"| wait_a_bit
    enough --> |"otherwise"| state_end
    wait_a_bit --> load_rows
    save --> asl_end
    state_end --> give_up
    classDef fail fill:#ffe3e3,stroke:#c92a2a
    class give_up fail
"""


def test_a_small_definition_gives_the_exact_flowchart() -> None:
    # "End" is a Mermaid keyword, the quotes would end a label, and Save ends the run with End: true.
    assert mermaid(TINY_ASL) == TINY_MERMAID


def _readme_with_markers(tmp_path: Path, block: str = "") -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# project\n\nintro\n\n{START_MARKER}\n{block}{END_MARKER}\n\n## The two commands\n")
    return path


def test_cli_check_fails_on_a_stale_diagram_and_write_fixes_it(tmp_path: Path) -> None:
    # Given a README whose diagram is stale
    readme = _readme_with_markers(tmp_path, "```mermaid\nflowchart TD\n    old --> diagram\n```\n")

    # When it is checked, then the check fails with the sentence that says what to run
    stale = runner.invoke(app, ["diagram", "--asl", str(ASL), "--check", str(readme)])
    assert stale.exit_code == 1
    assert _one_line(stale.output) == (
        f"error: {readme}'s state machine diagram is out of date: run `recflow diagram --write {readme} --asl {ASL}`"
    )

    # When it is written, then only the block changes and the check passes
    written = runner.invoke(app, ["diagram", "--asl", str(ASL), "--write", str(readme)])
    assert written.exit_code == 0, written.output
    text = readme.read_text()
    assert text.startswith(f"# project\n\nintro\n\n{START_MARKER}\n```mermaid\nflowchart TD\n")
    assert text.endswith(f"```\n{END_MARKER}\n\n## The two commands\n")
    assert readme_block(text) == markdown_block(DEFINITION)
    fresh = runner.invoke(app, ["diagram", "--asl", str(ASL), "--check", str(readme)])
    assert fresh.exit_code == 0
    assert _one_line(fresh.output) == f"{readme}'s state machine diagram is up to date."


def test_cli_prints_the_block_by_default() -> None:
    result = runner.invoke(app, ["diagram", "--asl", str(ASL)])

    assert result.exit_code == 0
    assert result.output == markdown_block(load_definition(ASL))


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing-asl", "missing.asl.json does not exist: pass the state machine definition with --asl PATH."),
        ("invalid-asl", "broken.asl.json is not valid JSON (line 1, column 2)."),
        ("not-asl", "list.asl.json is not a state machine definition: it has no States."),
        ("dangling-next", "dangling.asl.json: state 'Start' goes to 'Nowhere', which is not a state."),
        ("no-markers", "README.md has no diagram markers: put <!-- diagram:start --> and <!-- diagram:end --> on"),
        ("missing-readme", "nowhere.md does not exist: pass the file that holds the diagram markers."),
    ],
)
def test_cli_errors_are_one_sentence(tmp_path: Path, setup: str, expected: str) -> None:
    asl, readme = ASL, _readme_with_markers(tmp_path)
    if setup == "missing-asl":
        asl = tmp_path / "missing.asl.json"
    elif setup == "invalid-asl":
        asl = tmp_path / "broken.asl.json"
        asl.write_text("{x")
    elif setup == "not-asl":
        asl = tmp_path / "list.asl.json"
        asl.write_text("[]")
    elif setup == "dangling-next":
        asl = tmp_path / "dangling.asl.json"
        asl.write_text(json.dumps({"StartAt": "Start", "States": {"Start": {"Type": "Pass", "Next": "Nowhere"}}}))
    elif setup == "no-markers":
        readme.write_text("# project\n")
    else:
        readme = tmp_path / "nowhere.md"

    result = runner.invoke(app, ["diagram", "--asl", str(asl), "--check", str(readme)])

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert expected in _one_line(result.output)
    assert "Traceback" not in result.output


# Mermaid's own parser (the npm package `mermaid`, in jsdom), when a node_modules with both is given:
# `npm install mermaid jsdom` in a directory, then RECFLOW_MERMAID_MODULES=<that dir>/node_modules.
MERMAID_PARSE_JS = """
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const require = createRequire(process.env.RECFLOW_MERMAID_MODULES + "/");
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import(pathToFileURL(require.resolve("mermaid")).href);
mermaid.initialize({ startOnLoad: false });
for (const file of process.argv.slice(2)) {
  try {
    console.log(`${file}: ${(await mermaid.parse(readFileSync(file, "utf8"))).diagramType}`);
  } catch (error) {
    console.log(`${file}: ${error.message}`);
    process.exitCode = 1;
  }
}
"""


@pytest.mark.skipif(
    not (os.environ.get("RECFLOW_MERMAID_MODULES") and shutil.which("node")),
    reason="Mermaid's parser needs node and RECFLOW_MERMAID_MODULES (a node_modules with mermaid and jsdom)",
)
def test_mermaids_own_parser_accepts_the_diagrams(tmp_path: Path) -> None:
    script = tmp_path / "parse.mjs"
    script.write_text(MERMAID_PARSE_JS)
    files = {"pipeline": mermaid(DEFINITION), "tiny": TINY_MERMAID, "broken": "flowchart TD\n    end --> a\n"}
    for name, text in files.items():
        (tmp_path / f"{name}.mmd").write_text(text)

    result = subprocess.run(
        ["node", str(script), *(str(tmp_path / f"{name}.mmd") for name in files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    lines = result.stdout.splitlines()
    assert lines[0].endswith("pipeline.mmd: flowchart-v2"), result.stdout + result.stderr
    assert lines[1].endswith("tiny.mmd: flowchart-v2"), result.stdout
    assert "broken.mmd: Parse error" in lines[2]  # the parser really checks: `end` is a keyword
    assert result.returncode == 1
