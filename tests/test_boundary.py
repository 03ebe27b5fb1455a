"""Branch rollouts end at sentence boundaries, not at decimal points, version
numbers or abbreviations."""

import re

import pytest

from mlx_entropix import boundary, branching
from mlx_entropix.boundary import ends_sentence, sentence_end
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.sampler import get_preset


@pytest.mark.parametrize("before, piece, following, ends", [
    ("The answer is 9", ".", "9", False),        # 9.9
    ("The answer is 9", ".", "1", False),        # 9.11
    ("version 1", ".", "2", False),              # 1.2
    ("The answer is 9", ".", " The", True),
    ("The answer is 9", ".", "\n", True),
    ("It is larger", ".", "<|im_end|>", True),
    ("fruits, e", ".", "g", False),              # e.g
    ("fruits, e.g", ".", " apples", False),
    ("That is, i.e", ".", " the", False),
    ("Dr", ".", " Smith", False),
    ("go to example", ".", "com", False),
    ("It is done", ". ", "Next", True),
    ('He said "Stop', '."', " Then", True),
    ("Really", "?", "9", True),
    ("Wow", "!", "1", True),
    ("line", "\n", "9", True),
    ("so", " ...", " The", True),
    ("half", " of", " 9", False),
    ("Ridge", ".", " The", True),                # 'dge' is no abbreviation: the pattern is whole-word
])
def test_a_full_stop_needs_what_follows_it(before, piece, following, ends):
    assert ends_sentence(before, piece, following) is ends


PIECES = {1: "The", 2: " answer", 3: " is", 4: " 9", 5: ".", 6: "9", 7: " The", 8: "1", 0: "<eos>"}


def test_sentence_end_keeps_the_decimal_and_stops_after_the_sentence():
    text_of = PIECES.__getitem__
    eos = frozenset({0})
    assert sentence_end([1, 2, 3, 4, 5, 6, 5, 7], text_of, eos) == 7  # "The answer is 9.9." + lookahead
    assert sentence_end([3, 4, 5, 8, 8], text_of, eos) is None        # " is 9.11", no end yet
    assert sentence_end([4, 5], text_of, eos) is None                 # "." with no lookahead: unknown
    assert sentence_end([4, 5, 0], text_of, eos) == 2                 # end of text settles it
    assert sentence_end([4, 0, 1], text_of, eos) == 2                 # end-of-sequence ends the branch


def test_the_real_tokenizer_splits_decimals_so_lookahead_settles_them(lm):
    tok = lm.tokenizer
    ids = tok.encode("9.9 is larger than 9.11. The end")
    n = sentence_end(ids, tok.token_text, tok.eos_token_ids)
    assert tok.decode(ids[:n]) == "9.9 is larger than 9.11."


def test_branches_on_the_decimal_prompt_roll_through_decimal_points(lm, monkeypatch):
    """Every token a branch point (explore: H < med_ent, V > high_vent = 0). Each
    rollout's end is checked on the tokens it decided: it never stops at a "."
    that the next decided token shows to be a decimal point, and rollouts do
    carry numbers such as 9.9 and 9.11 past their decimal point."""
    cfg = get_preset("entropix").with_overrides(
        {"low_ent": 0.0, "low_vent": 0.0, "high_vent": 0.0, "med_ent": 100.0, "high_ent": 100.0,
         "n_branches": 2, "branch_max_tokens": 12, "max_think_insertions": 0})
    tok = lm.tokenizer
    decisions = []

    def spy(tokens, text_of, eos):
        n = boundary.sentence_end(tokens, text_of, eos)
        decisions.append((list(tokens), n))
        return n

    monkeypatch.setattr(branching, "sentence_end", spy)
    messages = [{"role": "user", "content": "Which number is larger, 9.9 or 9.11?"}]
    prompt = tok.prompt_tokens(messages)
    records = [r.record for r in stream_generate(lm, prompt, cfg, GenerationOptions(24, seed=0)) if r.record]
    assert any(r.branch for r in records)
    crossed = 0
    for tokens, n in decisions:
        texts = [tok.token_text(t) for t in tokens]
        for i in range(1, len(texts) - 1):
            if texts[i] == "." and texts[i - 1][-1:].isdigit() and texts[i + 1][:1].isdigit():
                assert n is None or n > i + 1, texts  # a decimal point: the rollout goes on
                crossed += 1
        if n is not None and texts[n - 1] == ".":
            assert not texts[n][:1].isalnum(), texts
    assert crossed, "no rollout reached a decimal point"
    kept = [r.branch.candidates[r.branch.winner].text for r in records if r.branch]
    assert any(re.search(r"\d\.\d", text) for text in kept), kept
