"""Evaluation datasets: JSONL, one question per line.

Fields: `question` (required), `answer` (required; GSM8K style "...#### 42"
is accepted and the part after the last #### is the gold), `choices` (list of
strings: multiple choice, the gold is a letter or a choice's text), `system`
(system message), `id`, `category` (reported separately), `kind` (number,
letter or string; inferred from the gold when absent), `split` (`dev` or
`test`: the held-out split that `eval --split` selects). Other fields are
ignored. Errors name the file and line.

A file with no `split` field at all (GSM8K's own JSONL) is split by a fixed
rule on its line numbers, `line_split`: every fifth line (1-based line number
divisible by 5) is dev, the rest test; for GSM8K's 1319-line test file that is
263 dev and 1056 test items, the same on every machine and in every run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import EvalError
from .extract import KINDS, infer_kind, normalize_gold


SPLITS = ("dev", "test")
DEV_EVERY = 5  # the line rule: 1-based line numbers divisible by this are dev


def line_split(line: int) -> str:
    """The split of an item on 1-based `line` of a file without split fields."""
    return "dev" if line % DEV_EVERY == 0 else "test"


class DatasetError(EvalError):
    """A dataset file that cannot be evaluated; the message names file and line."""


@dataclass(frozen=True)
class EvalItem:
    index: int
    id: str
    question: str
    answer: str
    kind: str
    gold: str
    choices: list[str] | None = None
    system: str | None = None
    category: str | None = None
    split: str | None = None
    line: int = 0  # 1-based line in the file
    worked: bool = False  # the gold came with a worked solution ("... #### N"): ask for the steps


def _text_field(where: str, d: dict[str, Any], name: str, required: bool) -> str | None:
    value = d.get(name)
    if value is None:
        if required:
            raise DatasetError(f"{where}: missing {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DatasetError(f"{where}: {name!r} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise DatasetError(f"{where}: {name!r} is empty")
    return text


def _parse_item(where: str, index: int, line: int, d: Any) -> EvalItem:
    if not isinstance(d, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(d).__name__}")
    question = _text_field(where, d, "question", required=True)
    answer = _text_field(where, d, "answer", required=True)
    choices = d.get("choices")
    if choices is not None:
        if (
            not isinstance(choices, list)
            or len(choices) < 2
            or len(choices) > 26
            or not all(isinstance(c, str) and c.strip() for c in choices)
        ):
            raise DatasetError(f"{where}: 'choices' must be a list of 2 to 26 non-empty strings")
    raw_gold = answer.rsplit("####", 1)[1].strip() if "####" in answer else answer
    kind = _text_field(where, d, "kind", required=False) or infer_kind(raw_gold, choices)
    if kind not in KINDS:
        raise DatasetError(f"{where}: unknown kind {kind!r} (use one of {', '.join(KINDS)})")
    if kind == "letter" and not choices:
        raise DatasetError(f"{where}: kind 'letter' needs a 'choices' list")
    split = _text_field(where, d, "split", required=False) or None
    if split is not None and split not in SPLITS:
        raise DatasetError(f"{where}: unknown split {split!r} (use {' or '.join(SPLITS)})")
    gold = normalize_gold(raw_gold, kind, choices)
    if gold is None:
        raise DatasetError(f"{where}: answer {raw_gold!r} is not a valid {kind} answer")
    return EvalItem(
        index=index,
        id=_text_field(where, d, "id", required=False) or str(index),
        question=question,
        answer=raw_gold,
        kind=kind,
        gold=gold,
        choices=[c.strip() for c in choices] if choices else None,
        system=_text_field(where, d, "system", required=False) or None,
        category=_text_field(where, d, "category", required=False) or None,
        split=split,
        line=line,
        worked="####" in answer,
    )


def read_jsonl(path: Path, what: str) -> Iterator[tuple[int, str, Any]]:
    """(line number, "file:line", parsed JSON) for every non-blank line; errors name the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} file not found") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not a UTF-8 JSONL file ({type(e).__name__})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield lineno, where, json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: bad JSON ({e.msg} at column {e.colno})") from None


def load_dataset(path: str | Path) -> list[EvalItem]:
    """Every item of a JSONL dataset, in file order (blank lines skipped)."""
    path = Path(path)
    items: list[EvalItem] = []
    seen_ids: dict[str, int] = {}
    for lineno, where, d in read_jsonl(path, "dataset"):
        item = _parse_item(where, len(items), lineno, d)
        if isinstance(d, dict) and d.get("id") is not None:
            if item.id in seen_ids:
                raise DatasetError(f"{where}: duplicate id {item.id!r} (first on line {seen_ids[item.id]})")
            seen_ids[item.id] = lineno
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: empty dataset (no JSON lines)")
    return items


def select_split(items: list[EvalItem], split: str, path: str | Path) -> list[EvalItem]:
    """The items of one split (`all`: every item), keeping their file indices,
    so an item has the same seed and trace name in a split run as in a full one.
    A file without any split field is split by `line_split`."""
    if split == "all":
        return items
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}: choose dev, test or all")
    unsplit = sum(it.split is None for it in items)
    if unsplit == len(items):
        return [it for it in items if line_split(it.line) == split]
    if unsplit:
        raise DatasetError(f"{path}: {unsplit} items have no 'split' field, so --split {split} "
                           "cannot select from it (use --split all)")
    chosen = [it for it in items if it.split == split]
    if not chosen:
        raise DatasetError(f"{path}: no item is in the {split!r} split")
    return chosen


def file_sha256(path: str | Path) -> str:
    """Fingerprint of a dataset, so a resume can tell the file changed."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spread(items: list[EvalItem], n: int | None) -> list[EvalItem]:
    """n items evenly spaced through the list (the dataset is ordered by
    category, so its first n would all be arithmetic); all when n is None."""
    if n is None or n >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else items[:1]
