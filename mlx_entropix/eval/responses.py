"""Scoring anyone's outputs: a JSONL of {"id", "text"} against a dataset, with
the same strict scorer the harness uses, so replies from other systems (the
PyTorch peer, mlx-lm, a hosted model) are comparable with ours."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .dataset import EvalItem, read_jsonl
from .errors import EvalError
from .scoring import Score, score_text
from .stats import wilson_interval


@dataclass(frozen=True)
class ScoredResponse:
    id: str
    item: EvalItem
    text: str
    score: Score


def load_responses(path: Path, items: list[EvalItem]) -> list[ScoredResponse]:
    """Every line of `path` scored against the item with its id; errors name the file and line."""
    by_id = {it.id: it for it in items}
    out: list[ScoredResponse] = []
    seen: dict[str, int] = {}
    for lineno, where, d in read_jsonl(path, "responses"):
        if not isinstance(d, dict) or "id" not in d or "text" not in d:
            raise EvalError(f'{where}: expected an object with "id" and "text"')
        rid, text = d["id"], d["text"]
        if isinstance(rid, bool) or not isinstance(rid, (str, int)) or not isinstance(text, str):
            raise EvalError(f'{where}: "id" must be a string (or integer) and "text" a string')
        rid = str(rid)
        if rid not in by_id:
            raise EvalError(f"{where}: id {rid!r} is not in the dataset (its ids are its 'id' fields, "
                            "or the 0-based item index where it has none)")
        if rid in seen:
            raise EvalError(f"{where}: id {rid!r} twice (first on line {seen[rid]})")
        seen[rid] = lineno
        item = by_id[rid]
        out.append(ScoredResponse(rid, item, text, score_text(text, item.kind, item.gold, item.choices)))
    if not out:
        raise EvalError(f"{path}: no responses (empty file)")
    return out


def score_table(scored: list[ScoredResponse], n_items: int) -> list[tuple[str, str]]:
    """The figures, as (name, value) rows."""
    n = len(scored)
    strict = sum(s.score.correct for s in scored)
    lenient = sum(s.score.lenient_correct for s in scored)
    failures = sum(s.score.format_failure for s in scored)
    lo, hi = wilson_interval(strict, n)
    return [
        ("responses", f"{n} (of {n_items} dataset items)"),
        ("strict accuracy [95% Wilson CI]", f"{strict}/{n} = {strict / n:.1%} [{lo:.1%}, {hi:.1%}]"),
        ("format failures (no 'The answer is ...')", f"{failures}/{n}"),
        ("lenient accuracy (any marker, else last number/letter)", f"{lenient}/{n} = {lenient / n:.1%}"),
    ]
