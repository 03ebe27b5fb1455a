"""Where a branch rollout may stop: at the end of a sentence or a line.

A "." is a sentence end only when what follows it is not glued to it: in
"9.11", "v1.2", "e.g." or ".com" the next character is a digit, a letter or
the abbreviation's own text. Whether a "." ends a sentence therefore depends on
the next token, so the decision takes it as lookahead: a rollout's last token
can settle the one before it, never end the rollout itself. "!", "?" and a
line break end a sentence by themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# Abbreviations whose "." is followed by a space yet ends no sentence.
ABBREVIATIONS = ("e.g", "i.e", "cf", "vs", "approx", "fig", "mr", "mrs", "ms", "dr", "prof")
_ABBREVIATION = re.compile(r"(?:^|[^\w.])(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")$",
                           re.IGNORECASE)
_CLOSERS = "\"')]}»”’*"


def ends_sentence(before: str, piece: str, following: str) -> bool:
    """Does the token `piece`, written after the text `before` and followed by
    the token `following`, end a sentence?"""
    if "\n" in piece:
        return True
    core = piece.rstrip().rstrip(_CLOSERS)
    if not core or core[-1] not in ".!?":
        return False
    if core[-1] in "!?":
        return True
    if core != piece.rstrip():  # '."' or '.)': the quote or bracket closes the sentence
        return True
    if _ABBREVIATION.search(before + core[:-1]):
        return False
    if len(piece) > len(piece.rstrip()):  # ". " carries its own space
        return True
    return not following[:1].isalnum()


def sentence_end(tokens: Sequence[int], text_of: Callable[[int], str], eos: frozenset[int]
                 ) -> int | None:
    """How many of `tokens` a branch keeps: up to and including its first end
    of sentence or end-of-sequence token; None when it has not ended yet.

    The last token is lookahead only (decided but not yet fed to the model):
    it can settle whether the token before it ended a sentence, never end one
    itself."""
    before = ""
    for i, t in enumerate(tokens[:-1]):
        if t in eos:
            return i + 1
        piece = text_of(t)
        if ends_sentence(before, piece, text_of(tokens[i + 1])):
            return i + 1
        before += piece
    return None
