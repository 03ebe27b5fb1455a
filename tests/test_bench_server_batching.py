"""benchmarks/server_batching.py's pure parts: argument checks, stream reading,
ratios and checks, the report. No server starts and no timing is asserted."""

import json
import math

import pytest

from mlx_entropix.bench.measure import BenchError
from mlx_entropix.bench.server_batching import (
    MLX_LM, OURS, Reply, Run, Settings, client_groups, read_stream, report_lines, request_body, summarise)


@pytest.mark.parametrize("kwargs, word", [
    ({"clients": 1}, "--clients must be at least 2"),
    ({"clients": 33}, "--clients must be at most 32"),
    ({"max_tokens": 0}, "--max-tokens must be at least 1"),
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"request_timeout": 0}, "--request-timeout must be positive"),
    ({"mlx_lm_threads": 0}, "--mlx-lm-threads must be at least 1"),
    ({"mlx_lm_prompt_cache": -1}, "--mlx-lm-prompt-cache must be 0"),
    ({"requests_per_client": 0}, "--requests-per-client must be at least 1"),
    ({"requests_per_client": 17}, "--requests-per-client must be at most 16"),
    ({"model": "/no/such/model.gguf"}, "--model /no/such/model.gguf does not exist"),
])
def test_bad_settings_fail_in_one_line(kwargs, word):
    with pytest.raises(BenchError, match=word) as e:
        Settings(**{"model": None, **kwargs}).check()
    assert "\n" not in str(e.value)


def test_good_settings_pass(tmp_path):
    assert Settings(str(tmp_path), clients=8, max_tokens=16, rounds=1).check().clients == 8


def test_clients_take_every_clients_th_prompt_in_turn():
    assert client_groups(8, 1) == [list(range(8))]
    assert client_groups(8, 8) == [[i] for i in range(8)]  # a burst: one request each
    assert client_groups(6, 2) == [[0, 2, 4], [1, 3, 5]]  # each client sends 3, one after another
    assert client_groups(2, 4) == [[0], [1]]


def test_request_bodies_are_greedy_on_each_server():
    msgs = [{"role": "user", "content": "hi"}]
    ours, theirs = request_body(OURS, msgs, 5), request_body(MLX_LM, msgs, 5)
    assert ours["sampler"] == "greedy" and "temperature" not in ours
    assert theirs["temperature"] == 0.0 and "sampler" not in theirs
    for body in (ours, theirs):
        assert body["stream"] and body["stream_options"] == {"include_usage": True}
        assert body["max_tokens"] == 5


def _sse(*chunks) -> list[bytes]:
    lines = []
    for c in chunks:
        lines += [f"data: {c if isinstance(c, str) else json.dumps(c)}\n".encode(), b"\n"]
    return lines


def _piece(text, **extra):
    return {"choices": [{"index": 0, "delta": {"content": text}}], **extra}


def test_read_stream_counts_text_records_and_usage():
    lines = _sse(_piece(""), _piece("Hel", entropix={"entropy": 1.0}), _piece("", entropix={"entropy": 2.0}),
                 _piece("lo"), {"choices": [], "usage": {"completion_tokens": 3}}, "[DONE]")
    reply = read_stream(iter(lines), 0.0, prompt=4, start_s=1.5)
    assert (reply.prompt, reply.text, reply.completion_tokens, reply.metric_records) == (4, "Hello", 3, 2)
    assert reply.ttft_s > 0 and reply.start_s == 1.5
    assert len(reply.token_s) == 3 and reply.token_s[0] == reply.ttft_s  # the empty first chunk is no token


def test_read_stream_without_usage_or_with_an_error_fails():
    with pytest.raises(BenchError, match="usage"):
        read_stream(iter(_sse(_piece("a"), "[DONE]")), 0.0, 0)
    with pytest.raises(BenchError, match="error"):
        read_stream(iter(_sse({"error": {"message": "boom"}})), 0.0, 0)


def _run(server, clients, wall, texts, tokens=4, records=None):
    replies = [Reply(i, 0.1 * (i + 1), 1.0, tokens, t, tokens if records is None else records)
               for i, t in enumerate(texts)]
    return Run(server, clients, 0, wall, replies)


TEXTS = ["a", "b"]


def test_summary_ratios_and_goals():
    runs = [_run(OURS, 1, 8.0, TEXTS), _run(OURS, 2, 2.0, TEXTS),
            _run(MLX_LM, 1, 8.0, TEXTS), _run(MLX_LM, 2, 4.0, TEXTS)]
    s = summarise(runs, clients=2)
    assert s["cells"]["ours 1"]["tokens_per_s"] == 1.0 and s["cells"]["ours 2"]["tokens_per_s"] == 4.0
    assert s["ratios"]["ours C clients / ours 1 client"] == 4.0
    assert s["ratios"]["ours C clients / mlx-lm C clients"] == 2.0
    assert s["ratios"]["mlx-lm C clients / mlx-lm 1 client"] == 2.0
    assert all(g["met"] for g in s["goals"].values())
    assert math.isclose(s["cells"]["ours 2"]["ttft_s_median"], 0.15)
    assert s["checks"]["every_token_has_entropix"] and s["checks"]["concurrent_texts_equal_lone"]
    slow = summarise([_run(OURS, 1, 8.0, TEXTS), _run(OURS, 2, 4.0, TEXTS)], clients=2)
    assert not slow["goals"]["ours C clients / ours 1 client"]["met"]  # 2x < 3x
    assert slow["ratios"]["ours C clients / mlx-lm C clients"] is None


def test_medians_over_rounds():
    runs = [_run(OURS, 1, w, TEXTS) for w in (8.0, 4.0, 2.0)]
    assert summarise(runs, 2)["cells"]["ours 1"]["tokens_per_s"] == 2.0


def test_checks_catch_missing_metrics_and_differing_texts():
    s = summarise([_run(OURS, 1, 8.0, TEXTS), _run(OURS, 2, 2.0, ["a", "c"], records=3)], clients=2)
    assert not s["checks"]["every_token_has_entropix"]
    assert s["checks"]["tokens_without_entropix_record"] == 2
    assert not s["checks"]["concurrent_texts_equal_lone"] and s["checks"]["prompts_that_differ"] == [1]


def test_report_names_clients_goals_and_checks():
    runs = [_run(OURS, 1, 8.0, TEXTS), _run(OURS, 8, 4.0, ["a", "x"]),
            _run(MLX_LM, 1, 8.0, TEXTS), _run(MLX_LM, 8, 2.0, TEXTS)]
    text = "\n".join(report_lines(summarise(runs, 8), 8))
    assert "| ours | 8 | 2.00 (2.00) |" in text
    assert "ours 8 clients / ours 1 client: 2.00x (goal >= 3.0: MISSED)" in text
    assert "ours 8 clients / mlx-lm 8 clients: 0.50x (goal >= 1.0: MISSED)" in text
    assert "equal the 1-client texts: NO [1]" in text


def test_ceilings_come_from_our_runs_batch_accounts():
    def account(prefill_s, widths):
        return {"prefill": {"passes": 2, "tokens": 20, "seconds": prefill_s},
                "row_steps": sum(int(w) * n for w, (n, _) in widths.items()),
                "step_seconds": sum(t for _, t in widths.values()),
                "by_width": {w: {"steps": n, "seconds": t} for w, (n, t) in widths.items()}}

    lone, wide = _run(OURS, 1, 8.0, TEXTS), _run(OURS, 2, 5.0, TEXTS)  # 8 tokens each
    lone.batching = account(1.0, {"1": (8, 6.0)})
    wide.batching = account(1.0, {"2": (2, 2.0), "1": (4, 2.0)})  # the drain: 4 one-row steps
    s = summarise([lone, wide, _run(MLX_LM, 1, 8.0, TEXTS)], clients=2)
    c = s["ceilings"]
    assert math.isclose(c["steady_step_ratio"], 2 * 0.75 / 1.0)
    assert math.isclose(c["wall_at_full_width_s"], 1.0 + 8 / 2 * 1.0)  # no time outside prefill and steps
    assert math.isclose(c["ratio_at_full_width"], 8.0 / 5.0)
    assert "without the prefill either 1.75x" in "\n".join(report_lines(s, 2))
    assert summarise([_run(OURS, 1, 8.0, TEXTS), _run(OURS, 2, 5.0, TEXTS)], clients=2)["ceilings"] is None


def _timed(prompt, start, token_s, seconds, tokens=None):
    return Reply(prompt, token_s[0], seconds, tokens or len(token_s), "x", len(token_s), start, token_s)


def test_the_steady_rate_counts_the_tokens_that_arrive_while_every_client_streams():
    replies = [_timed(0, 0.0, [1.0, 2.0, 3.0], 3.0),  # client 0 (prompts 0, 2): first token at 1.0
               _timed(1, 0.0, [2.0, 4.0], 4.0),  # client 1 (prompts 1, 3): first token at 2.0
               _timed(2, 3.0, [1.0, 2.0, 3.0, 4.0], 4.0),  # client 0's last reply ends at 7.0
               _timed(3, 4.0, [1.0, 2.0], 2.5)]  # client 1's ends at 6.5: the first client to finish
    run = Run(OURS, 2, 0, 8.0, replies)
    assert run.all_active == (2.0, 6.5)
    assert math.isclose(run.steady_tokens_per_s, (2 + 2 + 3 + 2) / 4.5)  # 9 tokens arrived in [2.0, 6.5]
    merged = _timed(0, 1.0, [1.0, 3.0], 3.0, tokens=4)  # 2 chunks of 2 tokens (a held-back detokenizer)
    assert merged.tokens_between(0.0, 3.0) == 2.0 and merged.tokens_between(0.0, 5.0) == 4.0
    burst = Run(OURS, 2, 0, 3.0, [_timed(0, 0.0, [1.0], 1.5), _timed(1, 0.0, [2.0], 2.5)])
    assert burst.all_active is None and burst.steady_tokens_per_s is None  # one ended before the other began
    s = summarise([burst, Run(OURS, 1, 0, 3.0, [_timed(0, 0.0, [1.0, 2.0], 2.0), _timed(1, 2.0, [0.5], 1.0)])],
                  clients=2)
    assert s["cells"]["ours 2"]["steady_tokens_per_s"] is None
    assert s["ratios"]["while all stream: ours C clients / ours 1 client"] is None
    assert "| n/a |" in "\n".join(report_lines(s, 2))
