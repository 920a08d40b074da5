"""recflow's command line: run the pipeline offline, serve a local AWS account, operate a deployed stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recflow.cli import iam, report
from recflow.cli.aws import aws
from recflow.cli.common import configure_logging, console, fail
from recflow.cli.local import demo, generate, local

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Amazon Personalize pipelines as an AWS SAM app, runnable offline.",
)
local.command("report")(report.local_report)
local.command("iam")(iam.local_iam)
aws.command("report")(report.aws_report)
app.callback()(configure_logging)
app.add_typer(local, name="local")
app.add_typer(aws, name="aws")
app.command()(demo)
app.command()(generate)

DEFAULT_ASL = Path("statemachine/pipeline.asl.json")


@app.command()
def diagram(
    asl: Annotated[Path, typer.Option(help="The state machine definition (ASL JSON).")] = DEFAULT_ASL,
    check: Annotated[
        Path | None, typer.Option(help="Exit 1 when this file's diagram differs from the definition's.")
    ] = None,
    write: Annotated[Path | None, typer.Option(help="Replace the diagram between this file's markers.")] = None,
) -> None:
    """Print the state machine as a Mermaid flowchart; check or update the README's copy of it."""
    from recflow import diagram as mermaid_diagram

    if check is not None and write is not None:
        raise fail("use --check or --write, not both")
    try:
        block = mermaid_diagram.markdown_block(mermaid_diagram.load_definition(asl))
        if check is not None:
            if mermaid_diagram.readme_block(mermaid_diagram.read_text(check), str(check)) != block:
                rerun = f"recflow diagram --write {check}" + ("" if asl == DEFAULT_ASL else f" --asl {asl}")
                raise fail(f"{check}'s state machine diagram is out of date: run `{rerun}`", code=1)
            console.print(f"{check}'s state machine diagram is up to date.", highlight=False, markup=False)
        elif write is not None:
            text = mermaid_diagram.read_text(write)
            updated = mermaid_diagram.replace_readme_block(text, block, str(write))
            if updated != text:
                write.write_text(updated, encoding="utf-8")
            state = "updated" if updated != text else "already up to date"
            console.print(f"{write}'s state machine diagram {state}.", highlight=False, markup=False)
        else:
            typer.echo(block, nl=False)
    except mermaid_diagram.DiagramError as error:
        raise fail(str(error)) from None


if __name__ == "__main__":
    app()
