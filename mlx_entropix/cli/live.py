"""A run streamed to the terminal as it is generated, between mlx-lm's
separator lines, followed by its closing lines."""

from __future__ import annotations

from rich.console import Console

from mlx_entropix.generate import GenerationResponse
from mlx_entropix.load import LoadedModel
from mlx_entropix.runner import run
from mlx_entropix.trace import Trace

from .jobs import Job, Settings
from .render import SEPARATOR, TokenPrinter, print_closing, print_heading


def stream_job(lm: LoadedModel, job: Job, settings: Settings, out: Console,
               branch_details: bool = False) -> Trace:
    """Generate one run, printing each token as it arrives; returns its trace."""
    if job.label:
        print_heading(out, job.label)
    out.print(SEPARATOR)
    printer = TokenPrinter(out)

    def on_response(r: GenerationResponse) -> None:
        if r.record is not None:
            printer.add(r.record)
        else:
            printer.tail(r.text)

    try:
        trace = run(lm, job.request(settings), on_response)
    finally:
        printer.finish()
    print_closing(out, trace, branch_details)
    return trace
