"""Preregistration: a sealed run starts only once its plan is committed.

`eval --sealed --out docs/results/RUN` refuses to start (or resume) unless
`docs/results/RUN/plan.md` is tracked by git and identical to the committed
version, so the plan provably predates the results; and the run itself shows
and stores no score before its last item (runner.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import EvalError

PLAN_FILE = "plan.md"


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)


def check_plan_committed(out: Path) -> Path:
    """The committed, unmodified plan.md of a sealed run in `out`, or an EvalError saying what to do."""
    plan = out / PLAN_FILE
    hint = f"write the plan there and commit it (git add {plan} && git commit) before the run starts"
    if not plan.is_file():
        raise EvalError(f"--sealed needs {plan}: {hint}")
    try:
        tracked = _git(out, "ls-files", "--error-unmatch", PLAN_FILE)
    except FileNotFoundError:
        raise EvalError("--sealed needs git to check that the plan is committed, and git is not installed") from None
    if tracked.returncode != 0:
        raise EvalError(f"--sealed: {plan} is not committed in git: {hint}")
    if _git(out, "diff", "--quiet", "HEAD", "--", PLAN_FILE).returncode != 0:
        raise EvalError(f"--sealed: {plan} differs from its committed version: commit the change "
                        "(a new commit before the run starts) or restore it")
    return plan
