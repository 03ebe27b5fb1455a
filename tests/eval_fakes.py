"""A deterministic stand-in for the model, for the evaluation harness tests:
it answers "What is A + B?" questions, right or wrong depending on a hash of
(method, seed, question), so runs are reproducible and methods differ."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
from collections import Counter
from pathlib import Path

from mlx_entropix.batch_time import BatchTime
from mlx_entropix.eval.traces import TraceRequest
from mlx_entropix.trace import Alternative, Metrics, SamplingParams, Stats, TokenRecord, Trace

# How often each method answers right, so that pairwise tests have something to find;
# any other label (a config file's) answers right half the time.
HIT_RATE = {"entropix": 0.8, "greedy": 0.5, "normal": 0.3}


def write_sum_dataset(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {"id": f"q{i}", "question": f"What is {i} + {2 * i + 1}?", "answer": str(3 * i + 1)}
                )
                + "\n"
            )
    return path


def _unit(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def fake_trace(question: str, label: str, seed: int, max_tokens: int, prefix: tuple[int, ...] = (),
               is_normal: bool = False) -> Trace:
    """One deterministic answer: right with the method's hit rate; a forced
    prefix changes the draw; every token records five alternatives, and token 2
    is uncertain (entropy 3 nats), the rest sure."""
    a, b = map(int, re.search(r"What is (\d+) \+ (\d+)\?", question).groups())
    greedy_like = label == "greedy"
    right = _unit(label, None if greedy_like else seed, question, prefix) < HIT_RATE.get(label, 0.5)
    answer = a + b if right else a + b + 1
    words = f"{a} plus {b} makes {answer}. The answer is {answer}.".split(" ")[:max_tokens]
    outcome = "sample" if is_normal else ("argmax" if right else "adaptive")
    # a right answer is a peaked distribution (margin 0.94, high DeepConf confidence), a wrong one flat
    top_p = [0.95, 0.01, 0.005, 0.002, 0.001] if right else [0.4, 0.2, 0.1, 0.05, 0.05]
    tokens = [
        TokenRecord(
            index=i,
            id=100 + i,
            text=(" " if i else "") + w,
            outcome=outcome,
            inserted=False,
            logprob=-0.5,
            params=SamplingParams(temperature=0.7, top_p=0.9, top_k=0, min_p=0.0),
            metrics=Metrics(*([3.0 if i == 2 else 0.25] + [0.25] * 6)),
            top=[Alternative(100 + i + j, f"w{j}", math.log(p)) for j, p in enumerate(top_p)],
        )
        for i, w in enumerate(words)
    ]
    return Trace(
        model={"name": "fake-adder"},
        prompt={"messages": [], "text": question, "n_tokens": 10, **({"prefix": {"ids": list(prefix), "text": ""}}
                                                                     if prefix else {})},
        sampler={"method": "normal" if is_normal else "entropix", "label": label, "seed": seed},
        tokens=tokens,
        stats=Stats(
            prompt_tokens=10,
            generation_tokens=len(tokens),
            prompt_tps=100.0,
            generation_tps=10.0,
            time_to_first_token_s=0.1,
            total_time_s=0.1 * len(tokens),
            peak_memory_gb=0.0,
            finish_reason="stop" if len(tokens) == len(words) else "length",
            outcome_counts=dict(Counter(t.outcome for t in tokens)),
            mean_entropy=0.25,
        ),
        text="".join(t.text for t in tokens),
    )


def make_fake_generate_many(sleep_s: float = 0.0, calls: list | None = None):
    """A GenerateMany over the fake; `calls` (if given) collects each call's request count."""

    def generate_many(requests: list[TraceRequest]) -> list[Trace]:
        if calls is not None:
            calls.append(len(requests))
        time.sleep(sleep_s * len(requests))
        return [fake_trace(r.chat[-1]["content"], r.spec.label, r.seed, r.max_tokens, r.prefix_ids,
                           r.spec.is_normal) for r in requests]

    return generate_many


class FakeDecoder:
    """The eval's Decoder over a GenerateMany fake, scheduled like the model's
    BatchGenerator: up to max_batch rows per step, waiting requests joining as
    rows end (one generate_many call for those joining at a step), a trace
    taking one step per token. It records each step's rows (`rows`)."""

    def __init__(self, generate_many=None, max_batch: int = 8, sleep_s: float = 0.0):
        self.generate_many = generate_many or make_fake_generate_many()
        self.max_batch, self.sleep_s = max_batch, sleep_s
        self.handles = itertools.count()
        self.waiting: list[tuple[int, TraceRequest]] = []
        self.running: dict[int, Trace] = {}
        self.steps_left: dict[int, int] = {}
        self.rows: list[int] = []

    def add(self, request: TraceRequest) -> int:
        handle = next(self.handles)
        self.waiting.append((handle, request))
        return handle

    def step(self) -> list[tuple[int, Trace]]:
        joining = self.waiting[: self.max_batch - len(self.running)]
        del self.waiting[: len(joining)]
        if joining:
            traces = self.generate_many([r for _, r in joining])
            for (handle, _), trace in zip(joining, traces):
                self.running[handle] = trace
                self.steps_left[handle] = max(1, len(trace.tokens))
        self.rows.append(len(self.running))
        time.sleep(self.sleep_s)
        done = []
        for handle in list(self.running):
            self.steps_left[handle] -= 1
            if self.steps_left[handle] == 0:
                done.append((handle, self.running.pop(handle)))
                del self.steps_left[handle]
        return done

    def batching(self) -> dict:
        timing = BatchTime()
        for rows in self.rows:
            timing.add_step(rows, self.sleep_s)
        return timing.to_dict()
