"""`mlx_main.py score`: any system's replies scored like the harness's, and
`mlx_main.py eval-report`: the study's tables re-derived from committed raw results."""

from __future__ import annotations

from pathlib import Path

import typer

from mlx_entropix.eval.dataset import load_dataset
from mlx_entropix.eval.errors import EvalError


def score_command(
    dataset: Path = typer.Option(..., "--dataset", help="The questions: the eval's JSONL (GSM8K's too)."),
    responses: Path = typer.Option(..., "--responses", help='JSONL, one {"id", "text"} per line.'),
) -> None:
    """Score replies with the eval's strict scorer (lenient beside it, labelled)."""
    from rich.console import Console
    from rich.table import Table

    from mlx_entropix.eval.responses import load_responses, score_table

    try:
        items = load_dataset(dataset)
        scored = load_responses(responses, items)
    except EvalError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=f"{responses.name} on {dataset.name}")
    table.add_column("")
    table.add_column("value")
    for name, value in score_table(scored, len(items)):
        table.add_row(name, value)
    Console().print(table)


def eval_report_command(
    root: Path = typer.Argument(Path("docs/results"), help="Folder of runs (each with settings.json and "
                                "results.jsonl or results.jsonl.gz)."),
    out: Path = typer.Option(None, "--out", help="Write the tables here (default: ROOT/tables.md)."),
    data: Path = typer.Option(None, "--data", help="A folder holding a run's dataset by file name, where "
                              "its recorded path does not exist here (e.g. GSM8K's test.jsonl)."),
) -> None:
    """Re-score every run under ROOT from its raw results and rewrite its report, summary and plot;
    print the study's tables (the ones README shows)."""
    from mlx_entropix.eval.rederive import rederive_all

    try:
        text = rederive_all(root, data)
    except EvalError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    target = out or root / "tables.md"
    target.write_text(text, encoding="utf-8")
    typer.echo(text)
    typer.echo(f"written: {target}")
