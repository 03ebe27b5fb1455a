"""The answer in the terminal, token by token: each token in the colour of the
outcome that chose it, inserted thinking tokens in bold, branch points
underlined. Nothing but the model's own text goes between its words: how the
branch points were decided is told below the answer, in one line, or one line
per branch point with --branch-details."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.style import Style
from rich.text import Text

from mlx_entropix.plots.common import OUTCOME_COLORS
from mlx_entropix.trace import OUTCOMES, Branch, Trace, TokenRecord

from .summary import closing_lines, outcome_counts_text, run_on_line

SEPARATOR = "=" * 10  # mlx-lm's line around the generated text
DIM = Style(dim=True)
THINK_MARK = Style(bold=True)
LOSER_TEXT_LIMIT = 40
PIPE_WIDTH = 160  # tables written to a file or pipe: wide enough not to squash a run table


def make_console(color: bool, file: IO[str] | None = None) -> Console:
    """A console that writes ANSI styles only when `color` is set (no markup,
    no emoji codes, no highlighting: model text is printed as it is)."""
    tty = (file or sys.stdout).isatty()
    return Console(file=file, force_terminal=color or None, color_system="auto" if color else None,
                   width=None if tty else PIPE_WIDTH, highlight=False, markup=False, emoji=False,
                   soft_wrap=True)


def print_legend(console: Console) -> None:
    """One line naming each outcome in its colour, and the styles."""
    legend = Text("outcomes: ")
    for outcome in OUTCOMES:
        legend.append(outcome, Style(color=OUTCOME_COLORS[outcome]))
        legend.append("  ")
    legend.append("| ")
    legend.append("bold", THINK_MARK)
    legend.append(" inserted thinking  ")
    legend.append("underlined", Style(underline=True))
    legend.append(" branch point (summary below the answer)")
    console.print(legend)


def _quoted(text: str) -> str:
    text = text.replace("\n", "\\n")
    if len(text) > LOSER_TEXT_LIMIT:
        text = text[:LOSER_TEXT_LIMIT - 1] + "…"
    return f'"{text}"'


def branch_line(branch: Branch, index: int, at: str) -> str:
    """`token 4 " 9": kept 2 of 4 " 9.9 or 9.11." (entropy 0.40); dropped "9.5" 1.29, …`."""
    losers = [f"{_quoted(c.text)} {c.score:.2f}"
              for i, c in enumerate(branch.candidates) if i != branch.winner]
    kept = branch.candidates[branch.winner]
    return (f"  token {index} {_quoted(at)}: kept {branch.winner + 1} of {len(branch.candidates)} "
            f"{_quoted(kept.text)} ({branch.score_kind} {kept.score:.2f}); dropped {', '.join(losers)}")


def print_branches(console: Console, trace: Trace, details: bool) -> None:
    """Below the answer: how many branch points there were, and with `details`
    each one's kept and dropped continuations with their scores."""
    points = [rec for rec in trace.tokens if rec.branch is not None]
    if not points:
        return
    kinds = sorted({rec.branch.score_kind for rec in points})
    hint = "" if details else " (--branch-details lists the continuations)"
    console.print(f"Branch points: {len(points)}, kept by {', '.join(kinds)}{hint}")
    if details:
        for rec in points:
            console.print(Text(branch_line(rec.branch, rec.index, rec.text), DIM))


class TokenPrinter:
    """Prints one run's tokens as they arrive, styled by outcome; call finish() at the end."""

    def __init__(self, console: Console):
        self.console = console

    def _write(self, text: str, style: Style | None = None) -> None:
        self.console.print(Text(text, style or ""), end="")

    def add(self, rec: TokenRecord) -> None:
        style = Style(color=OUTCOME_COLORS.get(rec.outcome))
        if rec.inserted:
            style += THINK_MARK
        if rec.branch is not None:
            style += Style(underline=True)
        self._write(rec.text, style)

    def tail(self, text: str) -> None:
        """Text that ends the stream without a token of its own (detokenizer leftovers)."""
        if text:
            self._write(text)

    def finish(self) -> None:
        self.console.print()


def print_tokens(console: Console, trace: Trace) -> None:
    """A finished run's answer, rendered as it would have streamed."""
    printer = TokenPrinter(console)
    for rec in trace.tokens:
        printer.add(rec)
    shown = "".join(rec.text for rec in trace.tokens)
    if trace.text.startswith(shown):
        printer.tail(trace.text[len(shown):])
    printer.finish()


def print_heading(console: Console, label: str) -> None:
    """The line that names a run when an invocation has several."""
    console.print(f"── {label} ──")


def print_closing(console: Console, trace: Trace, branch_details: bool = False) -> None:
    """mlx-lm's closing lines, the outcome count, the branch points and where the run ran."""
    console.print(SEPARATOR)
    if trace.stats is None:
        return
    for line in closing_lines(trace.stats):
        console.print(line)
    console.print(f"Outcomes: {outcome_counts_text(trace.stats.outcome_counts)}")
    if "thresholds" in trace.sampler:
        console.print(f"Thresholds: {trace.sampler['thresholds']}")
    print_branches(console, trace, branch_details)
    console.print(run_on_line(trace.model))
