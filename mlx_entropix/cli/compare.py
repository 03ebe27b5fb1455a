"""`--compare`: the same prompt and seed through several methods (entropix and
the normal baseline unless named), summarised side by side (one column per
method)."""

from __future__ import annotations

from rich import box
from rich.table import Table

from mlx_entropix.trace import Trace

from .jobs import Job
from .summary import SUMMARY_FIELDS, summary_row


def compare_table(results: list[tuple[Job, Trace]]) -> Table:
    """Rows are the summary fields, columns the runs, labelled by method."""
    labels = [job.method.label for job, _ in results]
    table = Table(title=f"{' vs '.join(labels)} (mean H: entropy in nats)", box=box.SIMPLE_HEAD)
    table.add_column("")
    rows = [summary_row(trace) for _, trace in results]
    for label in labels:
        table.add_column(label, justify="right")
    for name in SUMMARY_FIELDS:
        table.add_row(name, *(row[name] for row in rows))
    return table
