"""Batch runs (`--prompts`, `--prompt_csv`): many runs per decode step under a
progress bar, each answer printed when it is done, then one table of all."""

from __future__ import annotations

from typing import Callable

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlx_entropix.batch_time import BatchTime, describe
from mlx_entropix.generate import GenerationResponse
from mlx_entropix.load import LoadedModel
from mlx_entropix.requests import DEFAULT_MAX_BATCH
from mlx_entropix.runner import run_many
from mlx_entropix.trace import Trace

from .jobs import Job, Settings
from .render import print_closing, print_heading, print_tokens
from .summary import SUMMARY_FIELDS, summary_row


def run_batch(lm: LoadedModel, jobs: list[Job], settings: Settings, out: Console, err: Console,
              after: Callable[[Job, Trace], None], branch_details: bool = False,
              max_batch: int = DEFAULT_MAX_BATCH) -> list[tuple[Job, Trace]]:
    """Run every job, max_batch of them per decode step (runner.run_many: each
    run as it would be alone; `normal` by the engine's plain sampling),
    printing each answer to `out` as it finishes, and at the end to `err` how
    full the decode steps ran.

    The bar shares the answers' console when that is a terminal (so rich keeps
    the bar below them), else it goes to stderr, and only to a terminal.
    """
    bar_console = out if out.is_terminal else err
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=bar_console, transient=True,
                  disable=not bar_console.is_terminal, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task(f"{len(jobs)} runs, {min(max_batch, len(jobs))} at a time", total=len(jobs))
        tokens = [0] * len(jobs)

        def on_response(i: int, r: GenerationResponse) -> None:
            tokens[i] = r.generation_tokens
            progress.update(task, description=f"{sum(tokens)} tokens")

        def on_done(i: int, trace: Trace) -> None:
            print_heading(out, jobs[i].label)
            print_tokens(out, trace)
            print_closing(out, trace, branch_details)
            after(jobs[i], trace)
            progress.advance(task)

        timing = BatchTime()
        traces = run_many(lm, [job.request(settings) for job in jobs], on_response, max_batch, on_done, timing)
    err.print(f"decoding: {describe(timing.to_dict())}")
    return list(zip(jobs, traces))


def batch_table(results: list[tuple[Job, Trace]]) -> Table:
    """One row per run, labelled as its files are; an `expected` column when
    any prompt has an expected answer. Only the outcomes column wraps."""
    methods = list(dict.fromkeys(job.method.label for job, _ in results))
    with_expected = any(job.prompt.expected for job, _ in results)
    table = Table(title=f"runs: {' vs '.join(methods)} (mean H: entropy in nats)", box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)
    if with_expected:
        table.add_column("expected", no_wrap=True)
    for name in SUMMARY_FIELDS:
        wraps = name == "outcomes"
        table.add_column(name, justify="left" if name in ("finish", "outcomes") else "right",
                         no_wrap=not wraps, min_width=18 if wraps else None)
    for job, trace in results:
        row = summary_row(trace)
        found = job.prompt.answered(trace.text)
        expected = [] if not with_expected else [
            "" if found is None else f"{'yes' if found else 'no'}: {job.prompt.expected}"]
        table.add_row(job.label, *expected, *(row[name] for name in SUMMARY_FIELDS))
    return table
