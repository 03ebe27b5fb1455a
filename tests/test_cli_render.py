"""Terminal rendering of a run: colours, thinking and branch markers, closing lines."""

import io
import re

from mlx_entropix.cli.render import TokenPrinter, make_console, print_closing, print_legend
from mlx_entropix.cli.summary import closing_lines, outcome_counts_text
from mlx_entropix.trace import (Branch, BranchCandidate, Metrics, SamplingParams, Stats,
                                TokenRecord, Trace)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rec(i: int, text: str, outcome: str = "argmax", inserted: bool = False,
        branch: Branch | None = None) -> TokenRecord:
    return TokenRecord(i, i, text, outcome, inserted, -0.1, SamplingParams(0.7, 0.9, 0, 0.03),
                       Metrics(0.1, 0.2, 1.0, 0.1, 0.5, 0.01, 2.0), branch=branch)


BRANCH = Branch("entropy", 1, [BranchCandidate([5, 6], "Nope.", 1.5),
                               BranchCandidate([7, 8], " Yes.", 0.4),
                               BranchCandidate([9], "Line\nbreak", 2.0)])
RECORDS = [rec(0, "Well"), rec(1, " ...", "think", inserted=True), rec(2, " Yes", "branch", branch=BRANCH),
           rec(3, ".", "adaptive"), rec(4, " Done", "explore")]


def render(color: bool) -> str:
    buf = io.StringIO()
    printer = TokenPrinter(make_console(color, file=buf))
    for r in RECORDS:
        printer.add(r)
    printer.finish()
    return buf.getvalue()


def test_plain_output_marks_thinking_and_branches_without_ansi():
    out = render(color=False)
    assert not ANSI.search(out)
    assert out == ('Well⟨think: ...⟩ Yes. ⟨branch at " Yes": kept 2 of 3 (entropy 0.40); '
                   'dropped "Nope." 1.50, "Line\\nbreak" 2.00⟩ Done\n')


def test_colour_output_styles_each_token_by_outcome():
    out = render(color=True)
    assert ANSI.search(out)
    assert ANSI.sub("", out) == render(color=False)
    assert "\x1b[4" in out or ";4m" in out  # the branch point is underlined


def test_legend_names_every_outcome():
    buf = io.StringIO()
    print_legend(make_console(True, file=buf))
    text = ANSI.sub("", buf.getvalue())
    for outcome in ("argmax", "think", "explore", "resample", "adaptive", "branch", "sample"):
        assert outcome in text


def test_closing_lines_follow_mlx_lm_format():
    stats = Stats(46, 12, 15.6071, 8.25, 2.9, 4.1, 0.2093, "stop", {"adaptive": 6, "argmax": 2}, 0.5)
    assert closing_lines(stats) == ["Prompt: 46 tokens, 15.607 tokens-per-sec",
                                    "Generation: 12 tokens, 8.250 tokens-per-sec",
                                    "Peak memory: 0.209 GB"]
    assert outcome_counts_text(stats.outcome_counts) == "argmax 2, adaptive 6"
    assert outcome_counts_text({}) == "none"
    buf = io.StringIO()
    print_closing(make_console(False, file=buf), Trace({}, {}, {}, [], stats=stats))
    assert buf.getvalue().splitlines()[-1] == "Outcomes: argmax 2, adaptive 6"
    buf = io.StringIO()
    print_closing(make_console(False, file=buf), Trace({}, {}, {"thresholds": "custom"}, [], stats=stats))
    assert buf.getvalue().splitlines()[-2:] == ["Outcomes: argmax 2, adaptive 6", "Thresholds: custom"]
