"""Terminal rendering of a run: colours, thinking and branch markers, closing lines."""

import io
import re

from mlx_entropix.cli.render import TokenPrinter, make_console, print_closing, print_legend, print_tokens
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


def test_plain_output_is_the_answer_text_alone():
    out = render(color=False)
    assert not ANSI.search(out)
    assert out == "Well ... Yes. Done\n"


def test_colour_output_styles_each_token_by_outcome_and_adds_no_text():
    out = render(color=True)
    assert ANSI.search(out)
    assert ANSI.sub("", out) == render(color=False)
    assert "\x1b[4" in out or ";4m" in out  # the branch point is underlined
    assert "\x1b[1" in out or ";1m" in out  # the inserted thinking is bold


STATS = Stats(46, 5, 15.6, 8.25, 2.9, 4.1, 0.2, "stop", {"argmax": 3, "branch": 1, "think": 1}, 0.5)


def closing(details: bool) -> list[str]:
    buf = io.StringIO()
    trace = Trace({}, {}, {}, RECORDS, stats=STATS, text="Well ... Yes. Done")
    console = make_console(False, file=buf)
    print_tokens(console, trace)
    print_closing(console, trace, branch_details=details)
    return buf.getvalue().splitlines()


def test_branch_points_are_summarised_below_the_answer():
    lines = closing(details=False)
    assert lines[0] == "Well ... Yes. Done"
    assert lines[-3].startswith("Outcomes: ") and lines[-1].startswith("Ran on: ")
    assert lines[-2] == "Branch points: 1, kept by entropy (--branch-details lists the continuations)"


def test_branch_details_list_kept_and_dropped_continuations():
    lines = closing(details=True)
    assert lines[0] == "Well ... Yes. Done"
    assert lines[-3] == "Branch points: 1, kept by entropy"
    assert lines[-2] == ('  token 2 " Yes": kept 2 of 3 " Yes." (entropy 0.40); '
                         'dropped "Nope." 1.50, "Line\\nbreak" 2.00')


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
    assert buf.getvalue().splitlines()[-2] == "Outcomes: argmax 2, adaptive 6"
    assert buf.getvalue().splitlines()[-1].startswith("Ran on: ")
    buf = io.StringIO()
    print_closing(make_console(False, file=buf), Trace({}, {}, {"thresholds": "custom"}, [], stats=stats))
    assert buf.getvalue().splitlines()[-3:-1] == ["Outcomes: argmax 2, adaptive 6", "Thresholds: custom"]
