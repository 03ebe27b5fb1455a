"""The answer in the terminal, token by token: each token in the colour of the
outcome that chose it, inserted thinking tokens between ⟨think: … ⟩ markers,
branch points underlined and followed (once the kept continuation has been
shown) by a dim summary of the continuations that lost."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.style import Style
from rich.text import Text

from mlx_entropix.plots import OUTCOME_COLORS
from mlx_entropix.trace import OUTCOMES, Branch, Trace, TokenRecord

from .summary import closing_lines, outcome_counts_text

SEPARATOR = "=" * 10  # mlx-lm's line around the generated text
DIM = Style(dim=True)
THINK_MARK = Style(color=OUTCOME_COLORS["think"], bold=True)
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
    """One line naming each outcome in its colour, and the markers."""
    legend = Text("outcomes: ")
    for outcome in OUTCOMES:
        legend.append(outcome, Style(color=OUTCOME_COLORS[outcome]))
        legend.append("  ")
    legend.append("| ")
    legend.append("⟨think: …⟩", THINK_MARK)
    legend.append(" inserted thinking  ")
    legend.append("underlined", Style(underline=True))
    legend.append(" branch point, then ")
    legend.append("⟨branch …⟩", DIM)
    legend.append(" the continuations it dropped")
    console.print(legend)


def _quoted(text: str) -> str:
    text = text.replace("\n", "\\n")
    if len(text) > LOSER_TEXT_LIMIT:
        text = text[:LOSER_TEXT_LIMIT - 1] + "…"
    return f'"{text}"'


def branch_summary(branch: Branch, at: str) -> str:
    """`⟨branch at "The": kept 3 of 4 by entropy; dropped "To find…" 1.29, …⟩`."""
    losers = [f"{_quoted(c.text)} {c.score:.2f}"
              for i, c in enumerate(branch.candidates) if i != branch.winner]
    kept = branch.candidates[branch.winner]
    return (f" ⟨branch at {_quoted(at)}: kept {branch.winner + 1} of {len(branch.candidates)} "
            f"({branch.score_kind} {kept.score:.2f}); dropped {', '.join(losers)}⟩")


class TokenPrinter:
    """Prints one run's tokens as they arrive; call finish() at the end."""

    def __init__(self, console: Console):
        self.console = console
        self._in_think = False
        self._branch: Branch | None = None
        self._branch_at = ""
        self._branch_left = 0

    def _write(self, text: str, style: Style | None = None) -> None:
        self.console.print(Text(text, style or ""), end="")

    def add(self, rec: TokenRecord) -> None:
        if self._in_think and not rec.inserted:
            self._write("⟩", THINK_MARK)
            self._in_think = False
        if rec.inserted and not self._in_think:
            self._write("⟨think:", THINK_MARK)
            self._in_think = True
        style = Style(color=OUTCOME_COLORS.get(rec.outcome))
        if rec.branch is not None:
            self._close_branch()
            style += Style(underline=True)
            self._branch, self._branch_at = rec.branch, rec.text
            self._branch_left = len(rec.branch.candidates[rec.branch.winner].tokens)
        self._write(rec.text, style)
        if self._branch is not None:
            self._branch_left -= 1
            if self._branch_left <= 0:
                self._close_branch()

    def tail(self, text: str) -> None:
        """Text that ends the stream without a token of its own (detokenizer leftovers)."""
        if text:
            self._write(text)

    def _close_branch(self) -> None:
        if self._branch is not None:
            self._write(branch_summary(self._branch, self._branch_at), DIM)
            self._branch = None

    def finish(self) -> None:
        if self._in_think:
            self._write("⟩", THINK_MARK)
            self._in_think = False
        self._close_branch()
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


def print_closing(console: Console, trace: Trace) -> None:
    """mlx-lm's closing lines and the outcome count."""
    console.print(SEPARATOR)
    if trace.stats is None:
        return
    for line in closing_lines(trace.stats):
        console.print(line)
    console.print(f"Outcomes: {outcome_counts_text(trace.stats.outcome_counts)}")
    if "thresholds" in trace.sampler:
        console.print(f"Thresholds: {trace.sampler['thresholds']}")
