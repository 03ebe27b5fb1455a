"""Pull a comparable answer out of free model text, and normalise gold answers
the same way, so "$1,234.50", "1234.5" and "The answer is 1,234.5." all meet.

Three kinds: `number` (compared as exact decimals), `letter` (a multiple-choice
letter A, B, ...), `string` (short text, SQuAD-style normalised). Every
extractor prefers an explicit marker ("The answer is", "Answer:", "####",
\\boxed{}) over a guess, because a small model's reasoning is full of
intermediate values that are not its answer.
"""

from __future__ import annotations

import re
import string
from decimal import Decimal, InvalidOperation

KINDS = ("number", "letter", "string")

# A number: thousands groups "1,234,567" or plain digits, optional decimals, or
# ".5". The sign counts only when it is not a hyphen between two words/digits
# ("3-2", "x-5" are not negatives). \u2212 is the typographic minus.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-\u2212])?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)"
)
_BOXED = re.compile(r"\\boxed\s*\{")
_HASHES = re.compile(r"####")
# "the answer is", "final answer:", "Answer -", "answer would be" ...
_ANSWER_MARKER = re.compile(r"\banswer\s*(?:is|would be|will be|=|:|-)\s*:?", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "\u2019\u2018\u201c\u201d"})


def canonical_number(raw: str) -> str | None:
    """'1,234.50' -> '1234.5', '-0.0' -> '0', '7' -> '7'; None if not a number."""
    text = raw.replace(",", "").replace("\u2212", "-").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _numbers(text: str) -> list[str]:
    found = []
    for m in _NUMBER.finditer(text):
        canon = canonical_number(("-" if m.group("sign") else "") + m.group("num"))
        if canon is not None:
            found.append(canon)
    return found


def _boxed_contents(text: str) -> list[str]:
    """Contents of every \\boxed{...}, braces balanced."""
    contents = []
    for m in _BOXED.finditer(text):
        depth, start = 1, m.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    contents.append(text[start:i])
                    break
    return contents


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for m in pattern.finditer(text):
        last = m
    return None if last is None else text[last.end() :]


def _marked_spans(text: str) -> list[str]:
    """Text following each explicit answer marker, strongest marker first."""
    spans = list(reversed(_boxed_contents(text)))
    for pattern in (_HASHES, _ANSWER_MARKER):
        tail = _after_last(pattern, text)
        if tail is not None:
            spans.append(tail)
    spans.extend(m.group(1) for m in reversed(list(_BOLD.finditer(text))))
    return spans


def extract_number(text: str) -> str | None:
    """The number after the strongest marker, else the last number in the text."""
    for span in _marked_spans(text):
        found = _numbers(span)
        if found:
            return found[0]
    found = _numbers(text)
    return found[-1] if found else None


def normalize_string(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _first_sentence(span: str) -> str:
    """A marker's span up to the end of its clause or line ("Paris, the
    capital" -> "Paris"); commas and points inside numbers do not end it."""
    span = span.strip().lstrip("*").strip()
    m = re.search(r"(?<!\d)[.!?,;](?!\d)|\n", span)
    return span[: m.start()] if m else span


_SENTENCES = re.compile(r"[^.!?\n]+")
_COPULA = re.compile(r"\b(?:is|are|was|were)\b", re.IGNORECASE)


def extract_string(text: str) -> str | None:
    """The marked short answer, else the whole reply if it is a few words, else
    what follows the last "is" of the last sentence ("The capital of France is
    Paris." -> "paris")."""
    for span in _marked_spans(text):
        answer = normalize_string(_first_sentence(span))
        if answer:
            return answer
    answer = normalize_string(text)
    if answer and len(answer.split()) <= 4:
        return answer
    sentences = [s for s in _SENTENCES.findall(text) if normalize_string(s)]
    if sentences:
        tail = _after_last(_COPULA, sentences[-1])
        if tail is not None:
            return normalize_string(_first_sentence(tail)) or None
    return None


_LETTER_AFTER_MARKER = re.compile(
    r"^[\s:*\-]*(?:(?:option|choice)\s+)?(?P<open>\()?(?P<letter>[A-Za-z])"
    r"(?P<close>\))?(?=[\s.,;:!*]|$)"
)
_LETTER_TAGGED = re.compile(r"\(([A-Z])\)|(?<![\w(])([A-Z])\)|\*\*([A-Z])\*\*")
_BARE_LETTER = re.compile(r"^\W*([A-Za-z])\W*$")


def _letter_index_ok(letter: str, n_choices: int) -> bool:
    return 0 <= ord(letter.upper()) - ord("A") < n_choices


def _choice_named(span: str, choices: list[str]) -> str | None:
    said = normalize_string(_first_sentence(span))
    for i, choice in enumerate(choices):
        if said and said == normalize_string(choice):
            return chr(ord("A") + i)
    return None


def _letter_after_marker(span: str, choices: list[str]) -> str | None:
    m = _LETTER_AFTER_MARKER.match(span)
    if m:
        letter = m.group("letter")
        # A lower-case letter followed by a word is the article "a" ("the
        # answer is a cat") unless it is tagged like "(a)" or "a)".
        untagged = not (m.group("open") or m.group("close"))
        article = letter.islower() and untagged and re.match(r"\s+\w", span[m.end() :])
        if not article and _letter_index_ok(letter, len(choices)):
            return letter.upper()
    return _choice_named(span, choices)


def extract_letter(text: str, choices: list[str]) -> str | None:
    """A choice letter: after a marker, else the last tagged "(B)"/"B)"/"**B**",
    else a reply that is just a letter or just one choice's text."""
    for span in _marked_spans(text):
        letter = _letter_after_marker(span, choices)
        if letter:
            return letter
    tagged = [next(g for g in m.groups() if g) for m in _LETTER_TAGGED.finditer(text)]
    tagged = [t for t in tagged if _letter_index_ok(t, len(choices))]
    if tagged:
        return tagged[-1]
    bare = _BARE_LETTER.match(text)
    if bare and _letter_index_ok(bare.group(1), len(choices)):
        return bare.group(1).upper()
    return _choice_named(text, choices)


def extract_answer(text: str, kind: str, choices: list[str] | None = None) -> str | None:
    """The normalised answer of `kind` in a model's reply, or None."""
    if kind == "number":
        return extract_number(text)
    if kind == "letter":
        return extract_letter(text, choices or [])
    if kind == "string":
        return extract_string(text)
    raise ValueError(f"unknown answer kind {kind!r} (expected one of {', '.join(KINDS)})")


def _bare_number(gold: str) -> str:
    """'$18' -> '18', '50%' -> '50': a gold answer that is one number, units aside."""
    found = _NUMBER.fullmatch(gold.strip().lstrip("$").rstrip("%").strip())
    return found.group(0) if found else gold


def infer_kind(gold: str, choices: list[str] | None) -> str:
    """letter when there are choices, number when the gold is one, else string."""
    if choices:
        return "letter"
    if canonical_number(_bare_number(gold)) is not None:
        return "number"
    return "string"


def normalize_gold(gold: str, kind: str, choices: list[str] | None = None) -> str | None:
    """The gold answer in the same normal form as `extract_answer`, or None if
    it is not an answer of that kind (e.g. kind number but gold 'Paris')."""
    gold = gold.strip()
    if kind == "number":
        return canonical_number(_bare_number(gold))
    if kind == "letter":
        choices = choices or []
        bare = _BARE_LETTER.match(gold)
        if bare and _letter_index_ok(bare.group(1), len(choices)):
            return bare.group(1).upper()
        return _choice_named(gold, choices)
    if kind == "string":
        return normalize_string(gold) or None
    raise ValueError(f"unknown answer kind {kind!r} (expected one of {', '.join(KINDS)})")
