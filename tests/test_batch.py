"""Batched decoding (batch.py, runner.run_many) against each request run alone:
greedy tokens, seeded draws, think insertions, branches, metrics to float
tolerance, ragged prompts, rows joining and leaving, plain sampling."""

import math

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.models.cache import RotatingKVCache

from mlx_entropix.batch import BatchGenerator, BatchRequest
from mlx_entropix.engine import Engine, GenerationOptions
from mlx_entropix.requests import NormalParams, RunRequest
from mlx_entropix.runner import run, run_many
from mlx_entropix.sampler import get_preset
from mlx_entropix.trace import METRIC_NAMES
from tests.test_engine_sampling import ALWAYS_THINK, tiny_lm  # noqa: F401 (the module fixture)

# Ragged prompts: 1 to 12 words, so rows carry different left padding.
PROMPTS = ["hello", "hello world hmm yes no", "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12",
           "no", "yes yes", "w40 w41 w42 w43 w44 w45 w46"]


def requests(method="entropix", config=None, max_tokens=(9, 5, 12, 7, 3, 10), seed=11, **kw):
    return [RunRequest(prompt=p, method=method, config=config,
                       options=GenerationOptions(max_tokens=m, seed=seed + i), **kw)
            for i, (p, m) in enumerate(zip(PROMPTS, max_tokens))]


def assert_same(alone, batched):
    """Same tokens, records and text; every metric and logprob to float tolerance."""
    assert len(alone.tokens) == len(batched.tokens)
    assert batched.text == alone.text
    assert batched.stats.finish_reason == alone.stats.finish_reason
    for a, b in zip(alone.tokens, batched.tokens):
        assert (a.id, a.outcome, a.inserted, a.text) == (b.id, b.outcome, b.inserted, b.text)
        assert (a.branch is None) == (b.branch is None)
        if a.branch is not None:
            assert [c.tokens for c in a.branch.candidates] == [c.tokens for c in b.branch.candidates]
            assert a.branch.winner == b.branch.winner
        assert math.isclose(a.logprob, b.logprob, rel_tol=1e-4, abs_tol=1e-4)
        for name in METRIC_NAMES:
            assert math.isclose(getattr(a.metrics, name), getattr(b.metrics, name),
                                rel_tol=1e-4, abs_tol=1e-4), name
        assert [t.id for t in a.top] == [t.id for t in b.top]


def check_batched_equals_alone(lm, reqs, max_batch):
    alone = [run(lm, r) for r in reqs]
    batched = run_many(lm, reqs, max_batch=max_batch)
    for a, b in zip(alone, batched):
        assert_same(a, b)
    return alone


def test_greedy_rows_of_ragged_prompts_equal_each_run_alone_metrics_included(tiny_lm):  # noqa: F811
    # max_batch 4 < 6 requests: rows end at different steps and waiting ones join.
    alone = check_batched_equals_alone(tiny_lm, requests("greedy"), max_batch=4)
    assert {len(t.tokens) for t in alone} == {9, 5, 12, 7, 3, 10}


def test_seeded_entropix_rows_with_think_insertions_equal_each_run_alone(tiny_lm):  # noqa: F811
    cfg = get_preset("entropix").with_overrides({**ALWAYS_THINK, "max_think_insertions": 2,
                                                 "think_text": "hmm ..."})
    alone = check_batched_equals_alone(tiny_lm, requests(config=cfg), max_batch=3)
    outcomes = {t.outcome for trace in alone for t in trace.tokens}
    assert "think" in outcomes and outcomes - {"think", "argmax"}  # insertions and draws both ran


def test_a_branch_in_one_row_leaves_the_others_as_they_are_alone(tiny_lm):  # noqa: F811
    branchy = get_preset("entropix").with_overrides({"branch_fraction": 0.05, "n_branches": 3,
                                                     "branch_max_tokens": 3, "max_think_insertions": 0})
    plain = get_preset("entropix").with_overrides({"branching": False, "max_think_insertions": 0})
    reqs = requests(config=plain)
    reqs[2] = RunRequest(prompt=PROMPTS[2], config=branchy, options=GenerationOptions(max_tokens=10, seed=5))
    alone = check_batched_equals_alone(tiny_lm, reqs, max_batch=6)
    assert any(t.branch is not None for t in alone[2].tokens)
    assert all(t.branch is None for i, trace in enumerate(alone) if i != 2 for t in trace.tokens)


BRANCHY = {"branch_fraction": 0.05, "n_branches": 3, "branch_max_tokens": 3, "max_think_insertions": 0}


def branchy_batch(lm, seeds=(5,), plain_tokens=10):
    """A BatchGenerator with a plain row and branching rows (one per seed)."""
    gen = BatchGenerator(lm, max_batch=8)
    plain = get_preset("entropix").with_overrides({"branching": False, "max_think_insertions": 0})
    tok = lm.tokenizer
    uids = [gen.insert(BatchRequest(tok.encode(PROMPTS[0]), plain, GenerationOptions(max_tokens=plain_tokens, seed=1)))]
    for seed in seeds:
        uids.append(gen.insert(BatchRequest(tok.encode(PROMPTS[2]), get_preset("entropix").with_overrides(BRANCHY),
                                            GenerationOptions(max_tokens=10, seed=seed))))
    return gen, uids


def test_a_branch_point_s_rollouts_run_as_extra_rows_of_the_shared_steps(tiny_lm, monkeypatch):  # noqa: F811
    """No decode forward pass outside the batch's steps (the other rows never
    wait for a rollout), the rollouts widen the batch while they run, and a
    row in a rollout counts once as running."""
    decodes = []
    real = tiny_lm.model.forward
    monkeypatch.setattr(tiny_lm.model, "forward", lambda tokens, cache=None, with_stats=False: (
        decodes.append(tokens.shape) if tokens.shape[1] == 1 else None, real(tokens, cache, with_stats))[1])
    gen, uids = branchy_batch(tiny_lm)
    steps, widths, running, branched = 0, [], [], False
    while not gen.done:
        out = gen.step()
        steps += 1
        widths.append(len(gen.rows))
        running.append(gen.running)
        branched |= any(resp.record is not None and resp.record.branch is not None for _, resp in out)
    assert branched
    assert len(decodes) == steps  # one decode forward per step: rollouts ride in the steps
    assert max(widths) > 2 and max(running) <= 2


def test_a_request_removed_during_its_rollout_leaves_nothing_behind(tiny_lm):  # noqa: F811
    gen, (plain_uid, branchy_uid) = branchy_batch(tiny_lm)
    got = []
    while not gen.branchings:
        assert not gen.done, "no branch point: the test needs one"
        got += [resp.token for uid, resp in gen.step() if uid == plain_uid]
    gen.remove(branchy_uid)
    assert gen.branchings == [] and {r.uid for r in gen.rows} == {plain_uid} and gen.running == 1
    while not gen.done:
        got += [resp.token for uid, resp in gen.step() if uid == plain_uid]
    alone, _ = branchy_batch(tiny_lm, seeds=())
    want = []
    while not alone.done:
        want += [resp.token for _, resp in alone.step()]
    assert got == want


def test_a_rows_draws_do_not_depend_on_its_batch_mates(tiny_lm):  # noqa: F811
    reqs = requests(config=get_preset("entropix").with_overrides({"branching": False}))
    whole = run_many(tiny_lm, reqs, max_batch=6)
    pairs = run_many(tiny_lm, [reqs[4], reqs[1]], max_batch=2)
    assert [t.id for t in pairs[0].tokens] == [t.id for t in whole[4].tokens]
    assert [t.id for t in pairs[1].tokens] == [t.id for t in whole[1].tokens]


def test_plain_draws_whose_pool_may_miss_tokens_are_drawn_again_over_the_whole_vocabulary(tiny_lm, monkeypatch):  # noqa: F811
    """A pool of 8 tokens cannot hold top-p 0.9 of the tiny model's flat
    distributions: every such row is drawn again over the whole vocabulary,
    with its own key, so the run equals one without a pool; a pool that holds
    the nucleus draws within it, no row again."""
    from mlx_entropix import batch

    reqs = requests("normal", normal=NormalParams(temperature=1.0, top_p=0.9, min_p=0.0))
    reqs[1::2] = requests("greedy")[1::2]  # rows of another group share the steps
    monkeypatch.setattr(batch, "PLAIN_POOL", 0)
    whole = run_many(tiny_lm, reqs, max_batch=4)
    redrawn = []
    real = batch.BatchGenerator._redraw
    monkeypatch.setattr(batch.BatchGenerator, "_redraw", lambda self, group, again, *a: (
        redrawn.append(len(again)), real(self, group, again, *a))[1])
    monkeypatch.setattr(batch, "PLAIN_POOL", 8)
    pooled = run_many(tiny_lm, reqs, max_batch=4)
    assert sum(redrawn) == sum(len(t.tokens) for r, t in zip(reqs, whole) if r.method == "normal")
    for a, b in zip(whole, pooled):
        assert_same(a, b)
    redrawn.clear()
    monkeypatch.setattr(batch, "PLAIN_POOL", 90)  # of 96 tokens: the nucleus fits
    run_many(tiny_lm, reqs, max_batch=4)
    assert not redrawn


def test_plain_sampling_in_a_batch_is_per_row_seeded_and_argmax_at_temperature_zero(tiny_lm):  # noqa: F811
    sampled = requests("normal", normal=NormalParams(temperature=1.0, top_p=1.0, min_p=0.0))
    alone = [run_many(tiny_lm, [r])[0] for r in sampled[:3]]
    together = run_many(tiny_lm, sampled, max_batch=6)
    for a, b in zip(alone, together):
        assert [t.id for t in a.tokens] == [t.id for t in b.tokens]
        assert b.sampler["sampled_by"] == "engine" and {t.outcome for t in b.tokens} == {"sample"}
    reseeded = run_many(tiny_lm, requests("normal", seed=99, normal=NormalParams(1.0, 1.0, 0.0)))
    assert [t.text for t in reseeded] != [t.text for t in together]
    cold = run_many(tiny_lm, requests("normal", normal=NormalParams(temperature=0.0)))
    greedy = run_many(tiny_lm, requests("greedy"))
    assert [[t.id for t in c.tokens] for c in cold] == [[t.id for t in g.tokens] for g in greedy]


def test_removed_row_leaves_and_the_rest_go_on_as_alone(tiny_lm):  # noqa: F811
    greedy = get_preset("greedy")
    ids = [tiny_lm.tokenizer.raw_prompt_tokens(p) for p in PROMPTS[:3]]
    gen = BatchGenerator(tiny_lm, max_batch=3)
    uids = [gen.insert(BatchRequest(p, greedy, GenerationOptions(max_tokens=6))) for p in ids]
    got: dict[int, list[int]] = {u: [] for u in uids}
    for n in range(8):
        if n == 2:
            gen.remove(uids[1])
        for uid, r in gen.step():
            if r.record is not None:
                got[uid].append(r.record.id)
    assert gen.done and len(got[uids[1]]) == 2
    for i in (0, 2):
        alone = run(tiny_lm, RunRequest(prompt=PROMPTS[i], method="greedy",
                                        options=GenerationOptions(max_tokens=6)))
        assert got[uids[i]] == [t.id for t in alone.tokens]


def test_padding_is_not_in_the_attention_statistics():
    """A masked key (-inf) changes no statistic of the others."""
    from mlx_entropix.model import LayerAttention, attention_stats

    def layer(scores):
        return LayerAttention(scores, mx.softmax(scores, axis=-1))

    scores = mx.random.normal((2, 3, 7), key=mx.random.key(0))
    padded = mx.concatenate([mx.full((2, 3, 4), -math.inf), scores], axis=-1)
    for a, b in zip(vars(attention_stats([layer(scores)])).values(), vars(attention_stats([layer(padded)])).values()):
        assert np.allclose(np.array(a), np.array(b), atol=1e-6)


def family_lm(family, tiny_lm):  # noqa: F811
    """tiny_lm itself for "llama" (our port), else a tiny random mlx-lm model of
    that family through the recorder, with tiny_lm's tokenizer."""
    if family == "llama":
        return tiny_lm
    from mlx_entropix.bench.family import random_model
    from mlx_entropix.families import FamilyModel
    from mlx_entropix.load import LoadedModel
    from tests.family_fixtures import family_config

    config = family_config(family, tiny_lm.model.args.vocab_size)
    return LoadedModel(FamilyModel(random_model(config), family), tiny_lm.tokenizer, config, family, family)


FAMILIES = ["llama", "qwen2", "gemma3_text"]  # gemma3: sliding windows of 6 keys


@pytest.mark.parametrize("family", FAMILIES[1:])
def test_family_rows_equal_each_run_alone_through_the_recorder(family, tiny_lm):  # noqa: F811
    fam = family_lm(family, tiny_lm)
    branchy = get_preset("entropix").with_overrides({"branch_fraction": 0.05, "n_branches": 3,
                                                     "branch_max_tokens": 3, "max_think_insertions": 0})
    reqs = requests("greedy")[:4] + requests(config=branchy)[4:]
    alone = check_batched_equals_alone(fam, reqs, max_batch=3)
    assert any(t.branch is not None for trace in alone for t in trace.tokens)


def test_server_worker_lets_a_new_request_join_a_running_one(tiny_lm):  # noqa: F811
    """Continuous batching: B submitted while A decodes shares A's steps, and
    both streams carry what each run alone gives."""
    import asyncio

    from mlx_entropix.server.worker import Worker

    def req(prompt, n):
        return RunRequest(prompt=prompt, method="greedy", options=GenerationOptions(max_tokens=n))

    async def scenario():
        worker = Worker(tiny_lm, queue_size=2, max_batch=2)
        real_step = worker._batch.step

        def step():
            responses = real_step()
            steps.append({uid for uid, _ in responses})
            return responses

        worker._batch.step = step
        worker.start()
        try:
            a = worker.submit(req(PROMPTS[2], 30))
            stream_a = a.responses()
            first = [await stream_a.__anext__() for _ in range(3)]
            b = worker.submit(req(PROMPTS[1], 6))
            got_b = [r async for r in b.responses()]
            rest = [r async for r in stream_a]
            return first + rest, got_b
        finally:
            worker.stop()

    steps: list[set[int]] = []
    got_a, got_b = asyncio.run(scenario())
    assert sum(len(s) == 2 for s in steps) >= 5  # B's tokens came in A's steps
    for got, (p, n) in ((got_a, (PROMPTS[2], 30)), (got_b, (PROMPTS[1], 6))):
        alone = run(tiny_lm, req(p, n))
        assert [r.record.id for r in got if r.record] == [t.id for t in alone.tokens]
        assert got[-1].finish_reason == alone.stats.finish_reason
    assert len(got_a) > len(got_b)


# Prompt ids of clearly different lengths: a 1-token prompt (nothing to
# prefill), a short one padded by 37 positions, one across several chunks.
RAGGED_IDS = [[7], [2, 9, 11], [2] + [8 + i % 80 for i in range(40)], [2, 30, 31, 32, 33, 34, 35, 36, 37]]


def cache_rows(cache) -> list:
    """Each layer's held keys and values [1, H, n, D] in temporal order (n may be
    0; a window's cache is not rotated after a prefill) and offset, as numpy."""
    out = []
    for c in cache:
        if c.keys is None:
            out.append((None, None, c.offset))
        else:
            n = c._idx if isinstance(c, RotatingKVCache) else c.offset
            out.append((np.array(c.keys[..., :n, :]), np.array(c.values[..., :n, :]), c.offset))
    return out


@pytest.mark.parametrize("chunk", [512, 8])  # one chunk; 2 columns a chunk, across gemma3's window
@pytest.mark.parametrize("family", FAMILIES)
def test_prompts_prefilled_together_hold_what_each_lone_prefill_holds(family, chunk, tiny_lm, monkeypatch):  # noqa: F811
    """Each row of a batched prefill holds the keys and values its lone prefill
    holds, to 1e-5: fails if the padding is not masked in prefill (the short
    rows' layer-2 keys would mix in the pad's values) or a padded row's RoPE
    runs at the padded position, not its own (its layer-1 keys rotate)."""
    from mlx_entropix import engine

    monkeypatch.setattr(engine, "PREFILL_CHUNK", chunk)
    lm = family_lm(family, tiny_lm)
    batched = BatchGenerator(lm, max_batch=4)._prefill([tuple(p[:-1]) for p in RAGGED_IDS])
    compared = 0
    for i, prompt in enumerate(RAGGED_IDS):
        alone = lm.model.make_cache()
        Engine(lm, get_preset("greedy"), GenerationOptions()).prefill(prompt, alone)
        for (ka, va, oa), (kb, vb, ob) in zip(cache_rows(alone), cache_rows([c.extract(i) for c in batched])):
            assert oa == ob  # the row's own position: where its next token's RoPE runs
            if ka is None:
                assert kb is None or kb.shape[2] == 0
                continue
            n = min(ka.shape[2], kb.shape[2])  # a sliding window keeps what its chunks left
            assert n >= min(len(prompt) - 1, 6)
            np.testing.assert_allclose(kb[:, :, -n:], ka[:, :, -n:], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(vb[:, :, -n:], va[:, :, -n:], rtol=1e-5, atol=1e-5)
            compared += 1
    assert compared == 3 * len(lm.model.layers)


@pytest.mark.parametrize("family", FAMILIES)
def test_rows_prefilled_together_decode_what_each_decodes_alone(family, tiny_lm, monkeypatch):  # noqa: F811
    """Greedy tokens identical and metrics to 1e-4 (assert_same): prompts of 30,
    22, 27 and 26 tokens to prefill share one group (padded by up to 8), the
    prefill in chunks of 3 columns, and a one-word prompt prefilled by itself;
    against the lone run (runner.run) and against each in a batch of one."""
    from mlx_entropix import engine

    monkeypatch.setattr(engine, "PREFILL_CHUNK", 12)
    lm = family_lm(family, tiny_lm)
    prompts = ["hello"] + [" ".join(f"w{i + n}" for i in range(n)) for n in (30, 22, 27, 26)]
    reqs = [RunRequest(prompt=p, method="greedy", options=GenerationOptions(max_tokens=8)) for p in prompts]
    together = run_many(lm, reqs, max_batch=5)
    for req, b in zip(reqs, together):
        assert_same(run(lm, req), b)
        assert_same(run_many(lm, [req], max_batch=1)[0], b)


def test_all_rows_joining_at_a_step_share_one_forward_pass_per_chunk(tiny_lm, monkeypatch, forward_shapes):  # noqa: F811
    """Joining rows of similar lengths: one forward of all of them per chunk, at
    most PREFILL_CHUNK tokens in all; a row joining a running batch later is
    prefilled by itself and appended."""
    from mlx_entropix import engine

    monkeypatch.setattr(engine, "PREFILL_CHUNK", 16)
    shapes = forward_shapes(tiny_lm)
    gen = BatchGenerator(tiny_lm, max_batch=4)
    long = RAGGED_IDS[2]
    for ids in (long[:37], long, long[:34]):  # 36, 40 and 33 tokens to prefill
        gen.insert(BatchRequest(ids, get_preset("greedy"), GenerationOptions(max_tokens=4)))
    gen.step()
    assert shapes == [(3, 5)] * 8 + [(3, 1)]  # 16 // 3 rows = 5 columns a chunk; then the first step
    gen.insert(BatchRequest(RAGGED_IDS[3], get_preset("greedy"), GenerationOptions(max_tokens=4)))
    gen.step()
    assert shapes[9:] == [(1, 8), (4, 1)]  # the newcomer alone, then all four decode together


def test_the_generator_accounts_its_prefill_and_its_steps_by_width(tiny_lm):  # noqa: F811
    """Greedy rows of 4, 2 and 3 tokens in a batch of 2, the third waiting:
    every step is counted at the width it ran (2, 2, then 2 after the third
    joins, then 1 while it drains), each row-step is one token, and the
    prefilled tokens are the prompts' own, padding left out."""
    greedy = get_preset("greedy")
    ids = [tiny_lm.tokenizer.raw_prompt_tokens(p) for p in PROMPTS[:3]]
    gen = BatchGenerator(tiny_lm, max_batch=2)
    for p, n in zip(ids, (4, 2, 3)):
        gen.insert(BatchRequest(p, greedy, GenerationOptions(max_tokens=n)))
    tokens = 0
    while not gen.done:
        tokens += sum(r.record is not None for _, r in gen.step())
    t = gen.timing.to_dict()
    assert tokens == 9 and t["row_steps"] == 9
    assert {rows: w["steps"] for rows, w in t["by_width"].items()} == {"2": 4, "1": 1}
    assert t["steps"] == 5 and t["step_seconds"] > 0 and t["mean_rows"] == 9 / 5
    assert t["prefill"]["passes"] == 2  # the first two together, the third when a row is free
    assert t["prefill"]["tokens"] == sum(len(p) - 1 for p in ids) and t["prefill"]["seconds"] > 0


def test_prefill_groups_bound_the_padding_to_the_groups_own_tokens():
    """A short prompt is not padded to a far longer one's length: each group's
    rows x longest is at most 5/4 of its tokens; similar lengths share a group."""
    from mlx_entropix.batch import prefill_groups

    assert prefill_groups([30, 25, 40, 33]) == [[2, 3, 0, 1]]
    assert prefill_groups([0, 2, 40, 8, 38, 1000, 900]) == [[5, 6], [2, 4], [3], [1], [0]]
    lengths = np.random.default_rng(0).integers(0, 300, 64).tolist()
    groups = prefill_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(64))
    for g in groups:
        assert 4 * len(g) * max(lengths[i] for i in g) <= 5 * sum(lengths[i] for i in g)
