"""Multi-trace methods against the fake model: what each asks for, how it
picks, what it is charged, and that shared traces are generated once."""

import json
import math

import pytest
from eval_fakes import FakeDecoder, fake_trace, make_fake_generate_many, write_sum_dataset

from mlx_entropix.eval.dataset import file_sha256, load_dataset
from mlx_entropix.eval.multitrace import (
    GREEDY,
    ItemContext,
    parse_multitrace,
    pick_deepconf,
    pick_guard,
    pick_margin,
    pick_vote,
    resolve_eval_methods,
    sample_seed,
)
from mlx_entropix.eval.runner import run_eval
from mlx_entropix.eval.scoring import strict_span
from mlx_entropix.eval.store import RunSettings
from mlx_entropix.eval.traces import TraceSource
from mlx_entropix.methods import MethodError

Q = [{"role": "user", "content": "What is 2 + 5?"}]


def _ctx(calls=None):
    source = TraceSource(make_fake_generate_many(calls=calls))
    return ItemContext(Q, 11, 64, source, lambda text: strict_span(text, "number"))


def _parsed(answers):
    return [None if a is None else (a, 0, 1) for a in answers]


def test_names_carry_their_budget_and_bad_ones_are_refused():
    m = parse_multitrace("self_consistency@k=3")
    assert (m.family, m.params["k"], m.params["pick"]) == ("self_consistency", 3, "vote")
    params = parse_multitrace("egb@b=2:tau=1.5:pick=guard").params
    assert (params["b"], params["tau"], params["pick"], params["width"]) == (2, 1.5, "guard", 1)
    assert parse_multitrace("deepconf").params["k"] == 5
    for bad, message in [("cot_decoding@k=9", "records only 5"), ("egb@depth=2", "not a parameter"),
                         ("self_consistency@k=x", "not an integer"), ("deepconf@keep=2", "outside"),
                         ("beam@k=2", "unknown multi-trace method"), ("egb@pick=best", "pick=best is unknown")]:
        with pytest.raises(MethodError, match=message):
            parse_multitrace(bad)
    with pytest.raises(MethodError, match="twice"):
        resolve_eval_methods("greedy,egb,egb")


def test_vote_majority_and_ties_go_to_the_first():
    assert pick_vote([], _parsed(["3", "4", "4", None]), {})[0] == 1
    assert pick_vote([], _parsed(["3", "4"]), {})[0] == 0
    assert pick_vote([], _parsed([None, None]), {})[0] is None


def test_guard_keeps_greedy_unless_the_alternatives_agree_against_it():
    p = {"agree": 0.75}
    assert pick_guard([], _parsed(["7", "8", "8", "9", "7"]), p)[0] == 0  # 2 of 4: not enough
    chosen, info = pick_guard([], _parsed(["7", "8", "8", "8", "7"]), p)
    assert chosen == 1 and info["overruled"]  # 3 of 4 agree on 8
    assert pick_guard([], _parsed(["7", "8"]), p)[0] == 0  # a lone alternative never overrules
    assert pick_guard([], _parsed([None, "8", "9", "9"]), p)[0] == 2  # no greedy answer: the vote


def test_margin_picks_the_path_the_model_committed_to():
    # the fake's right answers have margin 0.94 on every token, its wrong ones 0.2
    draws = [fake_trace("What is 2 + 5?", f"m{i}", 0, 64) for i in range(20)]
    right = next(t for t in draws if "The answer is 7." in t.text)
    wrong = next(t for t in draws if "The answer is 8." in t.text)
    parse = lambda text: strict_span(text, "number")  # noqa: E731
    traces = [wrong, right]
    chosen, info = pick_margin(traces, [parse(t.text) for t in traces], {})
    assert chosen == 1 and info["margins"][1] > info["margins"][0]


def test_deepconf_filters_by_confidence_then_weights_the_vote():
    draws = [fake_trace("What is 2 + 5?", f"d{i}", 0, 64) for i in range(30)]
    right = [t for t in draws if "answer is 7." in t.text][:1]
    wrong = [t for t in draws if "answer is 8." in t.text][:2]
    traces = wrong + right  # the plain vote says 8; the confident trace says 7
    parsed = [strict_span(t.text, "number") for t in traces]
    assert parsed[pick_vote(traces, parsed, {})[0]][0] == "8"
    chosen, info = pick_deepconf(traces, parsed, {"window": 4, "keep": 0.3})
    assert parsed[chosen][0] == "7" and info["kept"] == [2]


def test_cot_decoding_continues_the_top_first_tokens_greedily():
    calls = []
    ctx = _ctx(calls)
    a = parse_multitrace("cot_decoding@k=3").answer(ctx)
    reqs = ctx.source.requests
    assert [r.spec.label for r in reqs] == ["greedy"] * 3
    greedy = ctx.source.traces[reqs[0].key()]
    assert [r.prefix_ids for r in reqs] == [(), (greedy.tokens[0].top[1].id,), (greedy.tokens[0].top[2].id,)]
    assert a.used == [0, 1, 2] and a.tokens == sum(ctx.source.traces[r.key()].stats.generation_tokens
                                                   for r in reqs)


def test_egb_branches_only_where_entropy_is_high():
    ctx = _ctx()
    parse_multitrace("egb@b=4:tau=2.0").answer(ctx)
    reqs = ctx.source.requests
    greedy = ctx.source.traces[reqs[0].key()]
    # the fake's only uncertain token is token 2: one branch, the next best token there
    assert len(reqs) == 2
    assert reqs[1].prefix_ids == (greedy.tokens[0].id, greedy.tokens[1].id, greedy.tokens[2].top[1].id)
    ctx = _ctx()
    parse_multitrace("egb@b=4:tau=5.0").answer(ctx)
    assert len(ctx.source.requests) == 1  # nothing uncertain enough: greedy alone, greedy's cost


def test_shared_traces_are_generated_once_and_charged_to_each_method():
    calls = []
    ctx = _ctx(calls)
    sc5 = parse_multitrace("self_consistency@k=5").answer(ctx)
    sc3 = parse_multitrace("self_consistency@k=3").answer(ctx)
    dc = parse_multitrace("deepconf@k=5").answer(ctx)
    assert calls == [5]  # one batch of five samples, nothing more
    assert sc3.used == [0, 1, 2] and dc.used == sc5.used == [0, 1, 2, 3, 4]
    assert dc.tokens == sc5.tokens > sc3.tokens
    seeds = [r.seed for r in ctx.source.requests]
    assert seeds[0] == 11 and seeds == [sample_seed(11, j) for j in range(5)] and len(set(seeds)) == 5


def test_a_run_with_every_family_records_traces_and_matched_comparisons(tmp_path):
    path = write_sum_dataset(tmp_path / "sums.jsonl", 12)
    items = load_dataset(path)
    labels = ("greedy,normal,self_consistency@k=3,self_consistency@k=5,cot_decoding@k=3,"
              "egb@b=2:tau=2,deepconf@k=5:keep=0.6,egb@b=2:tau=2:pick=guard")
    methods = resolve_eval_methods(labels)
    settings = RunSettings(dataset=str(path), dataset_sha256=file_sha256(path), methods=tuple(m.label for m in methods),
                           n=12, seed=0, max_tokens=64, model=None, configs={m.label: m.describe() for m in methods})
    out = tmp_path / "run"
    decoder = FakeDecoder(max_batch=4)
    summary = run_eval(items, settings, methods, decoder, out, show_progress=False, save_traces=False)
    assert max(decoder.rows) == 4 and not (out / "traces").exists()
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for r in records:
        # greedy, 5 samples (normal is sample 0), 2 cot alternatives, 1 egb branch: 9 distinct traces
        assert len(r["traces"]) == 9
        assert r["methods"]["normal"]["used"] == r["methods"]["self_consistency@k=5"]["used"][:1]
    s = summary["methods"]
    assert s["egb@b=2:tau=2"]["mean_tokens"] == pytest.approx(2 * s["greedy"]["mean_tokens"], rel=0.3)
    matched = {p["a"]: p for p in summary["vs_self_consistency"]}
    assert set(matched) == {"greedy", "cot_decoding@k=3", "egb@b=2:tau=2", "deepconf@k=5:keep=0.6",
                            "egb@b=2:tau=2:pick=guard"}
    for label, p in matched.items():
        if p["matched"]:
            assert s[p["b"]]["mean_tokens"] >= s[label]["mean_tokens"]
            cheaper = [q for q in ("normal", "self_consistency@k=3", "self_consistency@k=5")
                       if s[label]["mean_tokens"] <= s[q]["mean_tokens"] < s[p["b"]]["mean_tokens"]]
            assert cheaper == []
    assert (out / "accuracy_vs_tokens.png").stat().st_size > 1000
    assert math.isclose(s["self_consistency@k=5"]["mean_tokens"], s["deepconf@k=5:keep=0.6"]["mean_tokens"])
    assert "Against self-consistency at matched tokens" in (out / "report.md").read_text()


def test_greedy_spec_is_the_greedy_preset():
    assert GREEDY.config.greedy


def test_a_generate_function_that_loses_a_trace_is_an_error():
    """TraceSource checks the count: zip would otherwise drop the missing trace's
    request silently and a method would read another request's answer."""
    from mlx_entropix.eval.traces import TraceRequest

    full = make_fake_generate_many()
    source = TraceSource(lambda requests: full(requests)[:-1])
    with pytest.raises(ValueError, match="returned 1 traces for 2 requests"):
        source.get([TraceRequest.of(Q, GREEDY, 11, 64), TraceRequest.of(Q, GREEDY, 11, 32)])
