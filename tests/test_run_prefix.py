"""A forced answer prefix (CoT decoding's first token, a branch's path): the
run continues after it exactly as if the model had chosen those tokens."""

import pytest

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.load import LoadedModel
from mlx_entropix.runner import RunRequest, prompt_tokens, run
from tests.llama_fixtures import llama3_tiny_lm

HI = [{"role": "user", "content": "Hi there, what is two plus two?"}]


@pytest.fixture(scope="module")
def tiny_lm() -> LoadedModel:
    return llama3_tiny_lm(seed=1)


def _greedy(lm, n, prefix=()):
    return run(lm, RunRequest(messages=HI, method="greedy", prefix_ids=prefix,
                              options=GenerationOptions(max_tokens=n, seed=0)))


def test_greedy_after_its_own_first_tokens_continues_the_same_answer(tiny_lm):
    full = _greedy(tiny_lm, 8)
    ids = [t.id for t in full.tokens]
    assert len(ids) == 8, "the random model should not stop early with this seed"
    for cut in (1, 3):
        after = _greedy(tiny_lm, 8 - cut, prefix=tuple(ids[:cut]))
        assert [t.id for t in after.tokens] == ids[cut:]
        assert after.stats.generation_tokens == 8 - cut  # forced tokens are not counted as generated
        assert after.prompt["prefix"]["ids"] == ids[:cut]
        assert after.text == full.text  # ... but are part of the answer's text
        assert after.text.startswith(after.prompt["prefix"]["text"])


def test_a_different_first_token_changes_the_continuation_and_the_prompt(tiny_lm):
    full = _greedy(tiny_lm, 4)
    other = full.tokens[0].top[1].id
    alt = _greedy(tiny_lm, 4, prefix=(other,))
    assert alt.prompt["prefix"]["ids"] == [other]
    plain, _ = prompt_tokens(tiny_lm, RunRequest(messages=HI))
    forced, header = prompt_tokens(tiny_lm, RunRequest(messages=HI, prefix_ids=(other,)))
    assert forced == plain + [other] and header["n_tokens"] == len(plain) + 1


def test_a_prefix_outside_the_vocabulary_is_refused(tiny_lm):
    vocab = tiny_lm.model.args.vocab_size
    with pytest.raises(ValueError, match=f"token id {vocab} is outside the vocabulary"):
        _greedy(tiny_lm, 2, prefix=(vocab,))


def test_batched_runs_honour_the_prefix_as_a_run_alone_does(tiny_lm):
    from mlx_entropix.runner import run_many

    full = _greedy(tiny_lm, 6)
    ids = [t.id for t in full.tokens]
    reqs = [RunRequest(messages=HI, method="greedy", prefix_ids=p, options=GenerationOptions(max_tokens=4, seed=0))
            for p in [(), tuple(ids[:2]), (full.tokens[0].top[1].id,)]]
    alone = [run(tiny_lm, r) for r in reqs]
    together = run_many(tiny_lm, reqs, max_batch=3)
    for a, b in zip(alone, together):
        assert [t.id for t in a.tokens] == [t.id for t in b.tokens]
        assert a.text == b.text and a.prompt.get("prefix") == b.prompt.get("prefix")
    assert together[1].text.startswith(together[1].prompt["prefix"]["text"])
