"""`recflow local iam`: each principal's calls in an offline run against what template.yaml grants it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recflow.cli.common import console, fail


def local_iam(
    lake: Annotated[Path, typer.Option(help="The lake directory of `recflow local run`.")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="The run to read (default: the newest).")] = None,
) -> None:
    """Print each principal's AWS calls of an offline run (action, resource) and the grants no call used."""
    from recflow.offline.iam_record import IamRecordError, read_iam_record, unused_grants

    try:
        found_run, record = read_iam_record(lake, run_id)
    except IamRecordError as error:
        raise fail(str(error)) from None
    console.print(f"IAM of run {found_run} ({lake / 'runs' / found_run / 'iam.json'})", highlight=False, markup=False)
    names = {name: info["logical_id"] for name, info in record["principals"].items()}
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in record["calls"]:
        calls[names.get(call["principal"], call["principal"])].append(call)
    table = Table("principal", "action", "resource", "calls", "decision", title="Calls made", title_justify="left")
    for principal in sorted(calls):
        for call in sorted(calls[principal], key=lambda c: (c["action"], c["resource"])):
            decision = "allowed" if call["allowed"] else "[bold red]DENIED[/]"
            table.add_row(principal, call["action"], call["resource"], str(call["count"]), decision)
    console.print(table)
    unused = unused_grants(record)
    candidates = [u for u in unused if u.exercised_offline]
    title = "Granted, never used: candidates to remove"
    table = Table("owner", "statement", "action", "resource", title=title, title_justify="left")
    for grant in candidates:
        table.add_row(grant.owner, grant.statement.split("/")[-1], grant.action, grant.resource)
    console.print(table if candidates else "Every grant exercised offline was used.", highlight=False)
    others: dict[str, set[str]] = defaultdict(set)
    for grant in unused:
        if not grant.exercised_offline:
            others[grant.owner].add(grant.action)
    if others:
        console.print("Not exercised offline (AWS services use them: logs, traces, the Glue script):", markup=False)
        for owner, actions in sorted(others.items()):
            console.print(f"  {owner}: {', '.join(sorted(actions))}", highlight=False, markup=False, soft_wrap=True)
    denied = [c for c in record["calls"] if not c["allowed"]]
    if denied:
        raise typer.Exit(1)
