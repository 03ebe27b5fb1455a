"""Strict scoring: an answer counts only where the prompt asked for it.

The prompt (prompt.py) asks every item to end with "The answer is"
followed by the answer. The strict answer is what comes right after the
*last* such phrase: a number (optionally `$`, `**`, `\\boxed{`, a colon in
between), a choice letter, or a short string up to the end of its clause.
A reply without the phrase, or with something else after it ("The answer
is X."), is a format failure: no answer, never a guess. This is the headline
figure.

The lenient column (labelled as such wherever it appears) is the older
extractor (extract.py): any marker, else the last number or letter in the
text. It is kept beside the strict one because the two differ most on small
models, and a reader should see by how much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .extract import _NUMBER, _letter_index_ok, canonical_number, extract_answer, normalize_string

# The phrase the prompt asks for; "The final answer is" counts too.
STRICT_MARKER = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\b", re.IGNORECASE)
# What may stand between the phrase and the answer: ":", "**", "$", quotes, "\\boxed{", "(", spaces.
_LEAD = re.compile(r"(?:[\s:*$(\"'\u201c\u2018]|\\boxed\s*\{|\\\(|\\\[)*")
_LETTER = re.compile(r"(?P<letter>[A-Za-z])(?=[\s.,;:!)*\"'\u201d\u2019]|$)")
_CLAUSE_END = re.compile(r"(?<!\d)[.!?,;](?!\d)|\n")


def _after_marker(text: str) -> int | None:
    """Where the answer starts: after the last "The answer is" and what may lead it."""
    last = None
    for m in STRICT_MARKER.finditer(text):
        last = m
    if last is None:
        return None
    return _LEAD.match(text, last.end()).end()


def _number_at(text: str, at: int) -> tuple[str, int] | None:
    sign = re.compile(r"[-\u2212]?").match(text, at)
    found = _NUMBER.match(text, sign.end())
    if found is None or found.group("sign"):
        return None
    value = canonical_number(("-" if sign.group(0) else "") + found.group("num"))
    return None if value is None else (value, found.end())


def _letter_at(text: str, at: int, choices: list[str]) -> tuple[str, int] | None:
    m = _LETTER.match(text, at)
    if m is None or not _letter_index_ok(m.group("letter"), len(choices)):
        return None
    letter = m.group("letter")
    # "the answer is a cat": an untagged lower-case "a" followed by a word is the article
    if letter.islower() and re.match(r"\s+\w", text[m.end():]):
        return None
    return letter.upper(), m.end()


def _string_at(text: str, at: int) -> tuple[str, int] | None:
    end = _CLAUSE_END.search(text, at)
    stop = end.start() if end else len(text)
    answer = normalize_string(text[at:stop])
    return (answer, stop) if answer else None


def strict_span(text: str, kind: str, choices: list[str] | None = None) -> tuple[str, int, int] | None:
    """The strict answer and its character span in `text`, or None (a format failure)."""
    at = _after_marker(text)
    if at is None:
        return None
    if kind == "number":
        found = _number_at(text, at)
    elif kind == "letter":
        found = _letter_at(text, at, choices or [])
    elif kind == "string":
        found = _string_at(text, at)
    else:
        raise ValueError(f"unknown answer kind {kind!r}")
    return None if found is None else (found[0], at, found[1])


def strict_answer(text: str, kind: str, choices: list[str] | None = None) -> str | None:
    """The normalised strict answer of `kind`, or None (a format failure)."""
    found = strict_span(text, kind, choices)
    return None if found is None else found[0]


@dataclass(frozen=True)
class Score:
    """One reply scored against one item: strict (the headline) and lenient (labelled)."""

    answer: str | None  # strict; None is a format failure
    correct: bool
    lenient_answer: str | None
    lenient_correct: bool

    @property
    def format_failure(self) -> bool:
        return self.answer is None


def score_text(text: str, kind: str, gold: str, choices: list[str] | None = None) -> Score:
    answer = strict_answer(text, kind, choices)
    lenient = extract_answer(text, kind, choices)
    return Score(answer, answer == gold, lenient, lenient == gold)
