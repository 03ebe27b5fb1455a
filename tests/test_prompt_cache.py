"""The prompt cache: a prompt is prefilled once, and every request with it
decodes what it decodes alone."""

import pytest

from mlx_entropix.batch import BatchGenerator, BatchRequest
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.prompt_cache import PromptCache
from mlx_entropix.requests import RunRequest
from mlx_entropix.runner import run, run_many
from mlx_entropix.sampler import get_preset
from tests.test_batch import RAGGED_IDS, assert_same
from tests.test_engine_sampling import tiny_lm  # noqa: F401 (the module fixture)

LONG = RAGGED_IDS[2]  # 41 tokens: 40 to prefill


def drain(gen: BatchGenerator) -> None:
    while not gen.done:
        gen.step()


def insert(gen: BatchGenerator, ids: list[int], seed: int = 0, preset: str = "greedy") -> int:
    return gen.insert(BatchRequest(ids, get_preset(preset), GenerationOptions(max_tokens=4, seed=seed)))


def test_identical_prompts_joining_together_are_prefilled_once(tiny_lm, forward_shapes):  # noqa: F811
    shapes = forward_shapes(tiny_lm)
    gen = BatchGenerator(tiny_lm, max_batch=4)
    for seed in range(3):
        insert(gen, LONG, seed)
    insert(gen, LONG[:30])
    gen.step()
    prefills = [s for s in shapes if s[1] > 1]
    assert sum(rows for rows, _ in prefills) == 2, prefills  # LONG once, LONG[:30] once
    assert shapes[-1] == (4, 1)  # then all four decode together


def test_a_prompt_seen_before_joins_without_a_prefill(tiny_lm, forward_shapes):  # noqa: F811
    shapes = forward_shapes(tiny_lm)
    gen = BatchGenerator(tiny_lm, max_batch=2)
    insert(gen, LONG)
    drain(gen)
    seen = len(shapes)
    insert(gen, LONG, seed=1)
    gen.step()
    assert shapes[seen:] == [(1, 1)]
    assert gen.prompts.hits == 1


def test_a_cache_of_no_tokens_keeps_nothing(tiny_lm, forward_shapes):  # noqa: F811
    shapes = forward_shapes(tiny_lm)
    gen = BatchGenerator(tiny_lm, max_batch=2, prompt_cache=PromptCache(0))
    insert(gen, LONG)
    drain(gen)
    seen = len(shapes)
    insert(gen, LONG)
    gen.step()
    assert [s for s in shapes[seen:] if s[1] > 1], "the prompt was not prefilled again"
    assert len(gen.prompts) == 0


@pytest.mark.parametrize("method", ["greedy", "entropix"])
def test_runs_sharing_a_prompt_decode_what_each_decodes_alone(method, tiny_lm):  # noqa: F811
    """Same records as lone runs (tokens, metrics to 1e-4; seeded draws): rows
    that share one prefill, in one batch and in later batches."""
    reqs = [RunRequest(prompt="Tell me about the sea.", method=method,
                       options=GenerationOptions(max_tokens=6, seed=seed)) for seed in (0, 1, 2, 0)]
    for max_batch in (4, 1):
        for req, b in zip(reqs, run_many(tiny_lm, reqs, max_batch=max_batch)):
            assert_same(run(tiny_lm, req), b)


def test_the_oldest_used_prompts_leave_first_within_the_budget():
    cache = PromptCache(10)
    cache.put((1, 2, 3, 4), ["a"])
    cache.put((5, 6, 7), ["b"])
    assert cache.get((1, 2, 3, 4)) == ["a"]  # now the newest
    cache.put((8, 9, 10, 11), ["c"])  # 11 tokens: the oldest used, (5, 6, 7), leaves
    assert cache.get((5, 6, 7)) is None
    assert cache.get((1, 2, 3, 4)) == ["a"] and cache.get((8, 9, 10, 11)) == ["c"]
    assert cache.tokens == 8 and len(cache) == 2
    cache.put(tuple(range(11)), ["too long"])  # alone over the budget: not kept, nothing evicted
    assert len(cache) == 2 and cache.tokens == 8
    with pytest.raises(ValueError, match="budget"):
        PromptCache(-1)


def test_a_one_token_prompt_has_nothing_to_prefill_alone_or_beside_others(tiny_lm):  # noqa: F811
    """A one-token prompt's cache is empty (its token is the first step's
    input); merged with prompts that have caches, or alone, it decodes what the
    lone loop decodes."""
    from mlx_entropix.generate import stream_generate

    cfg = get_preset("greedy")
    lone = [r.token for r in stream_generate(tiny_lm, [7], cfg, GenerationOptions(max_tokens=4))]
    assert len(lone) == 4
    for others in ([], [LONG, LONG[:9]]):
        gen = BatchGenerator(tiny_lm, max_batch=3)
        uid = insert(gen, [7])
        for ids in others:
            insert(gen, ids)
        tokens = []
        while not gen.done:
            tokens += [r.token for u, r in gen.step() if u == uid]
        assert tokens == lone


def test_the_server_flag_sets_the_budget_and_refuses_a_negative_one(capsys):
    import mlx_server

    assert mlx_server.parse_args([]).prompt_cache_tokens == PromptCache().max_tokens
    assert mlx_server.parse_args(["--prompt-cache-tokens", "0"]).prompt_cache_tokens == 0
    with pytest.raises(SystemExit):
        mlx_server.parse_args(["--prompt-cache-tokens", "-1"])
    assert "--prompt-cache-tokens must be at least 0, got -1" in capsys.readouterr().err
