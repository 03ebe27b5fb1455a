"""Branching on the tiny random model: the margin score picks its winner, and
the token right after a branch is never a think insertion (documented in
branching.py: the rollout decides with insertions off)."""

import numpy as np

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.sampler import get_preset
from tests.test_engine_sampling import tiny_lm  # noqa: F401 (the module fixture)

HELLO = [{"role": "user", "content": "hello world"}]


def generate(lm, cfg, max_tokens, seed=0):
    prompt = lm.tokenizer.prompt_tokens(HELLO)
    return [r.record for r in stream_generate(lm, prompt, cfg, GenerationOptions(max_tokens, seed))
            if r.record]


def margin(record) -> float:
    return float(np.exp(record.top[0].logprob) - np.exp(record.top[1].logprob))


def test_margin_score_is_the_mean_top2_margin_after_each_branch_token_and_the_highest_wins(tiny_lm):  # noqa: F811
    cfg = get_preset("entropix").with_overrides(
        {"branch_fraction": 1e-6, "n_branches": 3, "branch_max_tokens": 3, "max_think_insertions": 0,
         "branch_score": "margin"})
    records = generate(tiny_lm, cfg, max_tokens=16, seed=2)
    points = [i for i, r in enumerate(records) if r.branch is not None]
    checked = 0
    for at in points:
        branch = records[at].branch
        assert branch.score_kind == "margin"
        scores = [c.score for c in branch.candidates]
        assert len(scores) >= 2 and branch.winner == int(np.argmax(scores))
        winner = branch.candidates[branch.winner].tokens
        after = at + len(winner)
        if after < len(records):  # the decision after the winner's last token is recorded
            # Each winner token's score term is the margin of the decision made after it,
            # which is the top of the next record.
            want = np.mean([margin(records[at + j]) for j in range(1, len(winner) + 1)])
            assert np.isclose(branch.candidates[branch.winner].score, want, atol=1e-5)
            checked += 1
    assert checked >= 2, f"only {checked} branch points could be checked in {len(records)} tokens"


def test_the_token_right_after_a_branch_is_never_a_think_insertion(tiny_lm):  # noqa: F811
    # Wherever insertion is allowed the token is in the think region; where it
    # is not (right after an insertion), both H and V are high: a branch point.
    cfg = get_preset("entropix").with_overrides(
        {"low_ent": 0.0, "med_ent": 0.0, "high_ent": 0.0, "low_vent": 1e9, "high_vent": 1e9,
         "branch_fraction": 1e-12, "n_branches": 2, "branch_max_tokens": 2,
         "max_think_insertions": 3, "think_text": "hmm ..."})
    records = generate(tiny_lm, cfg, max_tokens=24)
    points = [i for i, r in enumerate(records) if r.branch is not None]
    assert points, "no branch point opened"
    ends = [at + len(records[at].branch.candidates[records[at].branch.winner].tokens) for at in points]
    followed = [end for end in ends if end < len(records)]
    assert followed, "no branch was followed by another token"
    for end in followed:
        assert not records[end].inserted and records[end].outcome != "think"
    # The cap is never reached: after the first insertion every token here is a
    # branch point or decided by a rollout, and neither ever inserts.
    per_insertion = len(tiny_lm.tokenizer.encode_mid_text("hmm ..."))
    assert records[0].inserted and 0 < sum(r.inserted for r in records) < 3 * per_insertion
