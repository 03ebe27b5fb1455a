"""The sampler inside the engine: seeds, thinking-token insertion, branching."""

import mlx.core as mx
import numpy as np
import pytest
from tokenizers import Tokenizer as RawTokenizer
from tokenizers.models import WordLevel
from tokenizers import decoders, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.load import LoadedModel, build_model
from mlx_entropix.metrics import logit_statistics
from mlx_entropix.runner import RunRequest, run
from mlx_entropix.sampler import get_preset
from tests.llama_fixtures import random_weights, tiny_config

STORY = [{"role": "user", "content": "Tell me a story."}]

# Every token falls in the think region (H > 0, V < 1e9) while insertion is allowed.
ALWAYS_THINK = dict(low_ent=0.0, med_ent=0.0, high_ent=0.0, low_vent=1e9, high_vent=1e9,
                    branching=False)


def tokens_of(lm, messages, cfg, max_tokens, seed=0):
    prompt = lm.tokenizer.prompt_tokens(messages)
    return [r.record for r in stream_generate(lm, prompt, cfg, GenerationOptions(max_tokens, seed))
            if r.record]


def test_same_seed_same_text_different_seed_different_draws(lm):
    def text(seed, method):
        req = RunRequest(messages=STORY, method=method,
                         options=GenerationOptions(max_tokens=10, seed=seed))
        return run(lm, req).text

    for method in ("entropix", "normal"):
        assert text(1, method) == text(1, method)
        assert len({text(s, method) for s in (1, 2, 3)}) > 1


def insertion_runs(records):
    """(start, length) of each run of consecutive inserted tokens."""
    runs, start = [], None
    for i, r in enumerate(records + [None]):
        if r is not None and r.inserted and start is None:
            start = i
        elif (r is None or not r.inserted) and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def check_insertions(records, think_ids, cap):
    runs = insertion_runs(records)
    assert 1 <= len(runs) <= cap
    for start, length in runs:
        assert [r.id for r in records[start:start + length]] == think_ids
        assert all(r.outcome == "think" for r in records[start:start + length])
    for (s1, l1), (s2, _) in zip(runs, runs[1:]):
        assert s2 > s1 + l1  # at least one sampled token between two insertions
    return runs


def test_think_insertion_with_smollm2_tokenizer(lm):
    cfg = get_preset("entropix").with_overrides({**ALWAYS_THINK, "max_think_insertions": 2,
                                                  "think_text": " Wait,"})
    records = tokens_of(lm, STORY, cfg, max_tokens=14)
    think_ids = lm.tokenizer.encode_mid_text(" Wait,")
    runs = check_insertions(records, think_ids, cap=2)
    assert len(runs) == 2
    assert "Wait," in "".join(r.text for r in records)


@pytest.fixture(scope="module")
def tiny_lm():
    words = ["<s>", "</s>", "▁hello", "▁world", "▁...", "▁hmm", "▁yes", "▁no"] + [f"▁w{i}" for i in range(88)]
    raw = RawTokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="▁hmm"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    hf = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>")
    hf.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    from mlx_entropix.tokenizer import Tokenizer

    config = tiny_config(vocab_size=len(words))
    model = build_model(random_weights(config, seed=3), config)
    return LoadedModel(model, Tokenizer.from_hf(hf), config, "tiny", "tiny")


def test_think_insertion_with_a_tiny_tokenizer(tiny_lm):
    cfg = get_preset("entropix").with_overrides({**ALWAYS_THINK, "max_think_insertions": 3,
                                                  "think_text": "hmm ..."})
    records = tokens_of(tiny_lm, [{"role": "user", "content": "hello world"}], cfg, max_tokens=20)
    think_ids = tiny_lm.tokenizer.encode_mid_text("hmm ...")
    assert think_ids == [5, 4]
    assert len(check_insertions(records, think_ids, cap=3)) == 3
    none = tokens_of(tiny_lm, [{"role": "user", "content": "hello"}],
                     cfg.with_overrides({"max_think_insertions": 0}), max_tokens=8)
    assert not any(r.inserted for r in none)


def test_branching_is_batched_picks_the_best_and_continues_from_the_winner(lm, monkeypatch, forward_shapes):
    cfg = get_preset("entropix").with_overrides(
        {"branch_fraction": 1e-6, "n_branches": 4, "branch_max_tokens": 4, "max_think_insertions": 0})
    forward = lm.model.forward
    batch_sizes = forward_shapes(lm)
    prompt = lm.tokenizer.prompt_tokens(STORY)
    records = [r.record for r in stream_generate(lm, prompt, cfg, GenerationOptions(12, seed=5)) if r.record]
    monkeypatch.setattr(lm.model, "forward", forward)

    branch_at = [i for i, r in enumerate(records) if r.branch is not None]
    assert branch_at, "no branch point opened"
    first = records[branch_at[0]]
    scores = [c.score for c in first.branch.candidates]
    assert len(scores) >= 2 and first.branch.winner == int(np.argmin(scores))
    assert first.outcome == "branch"
    winner = first.branch.candidates[first.branch.winner].tokens
    assert [r.id for r in records[branch_at[0]:branch_at[0] + len(winner)]] == winner[:len(records) - branch_at[0]]
    batched = [s for s in batch_sizes if s[0] == len(scores)]
    assert batched and all(s[1] == 1 for s in batched)  # N rows in one forward, never a re-prefill
    # the prompt is prefilled once (the chat template's head in a pass of its own: prompt_head.py)
    assert [s[1] for s in batch_sizes if s[1] > 1] == [len(lm.prompt_head), len(prompt) - 1 - len(lm.prompt_head)]

    # The token after the winner was decided from the winner's cache: a fresh
    # forward of prompt + everything generated so far gives the same distribution.
    after = branch_at[0] + len(winner)
    assert after < len(records), "the run ended with the winner: nothing was decided from its cache"
    prefix = prompt + [r.id for r in records[:after]]
    logits = lm.model(mx.array([prefix]))[:, -1, :]
    _, h, _ = logit_statistics(logits)
    assert np.isclose(h.item(), records[after].metrics.entropy, rtol=1e-3, atol=1e-3)
    fresh_top = np.argsort(-np.array(logits[0]))[:3].tolist()
    assert [a.id for a in records[after].top[:3]] == fresh_top


def test_every_step_and_branch_rollout_draws_with_a_fresh_key(lm, monkeypatch):
    """One PRNG key per forward pass (decode steps and branch rollouts alike),
    split from the seed: no key is ever used twice, and the seed fixes them all."""
    from mlx_entropix.engine import Engine

    forward = Engine.forward

    def keys_of(seed):
        keys = []

        def spy(self, tokens, cache, key, think_allowed):
            keys.append(tuple(np.asarray(key).tolist()))
            return forward(self, tokens, cache, key, think_allowed)

        monkeypatch.setattr(Engine, "forward", spy)
        cfg = get_preset("entropix").with_overrides(
            {"branch_fraction": 1e-6, "n_branches": 2, "branch_max_tokens": 3, "max_think_insertions": 0})
        tokens_of(lm, STORY, cfg, max_tokens=10, seed=seed)
        monkeypatch.setattr(Engine, "forward", forward)
        return keys

    keys = keys_of(7)
    assert len(keys) >= 10
    assert len(set(keys)) == len(keys), "a PRNG key was reused"
    assert keys_of(7) == keys and keys_of(8)[0] != keys[0]
