"""A deterministic stand-in for the model, for the evaluation harness tests:
it answers "What is A + B?" questions, right or wrong depending on a hash of
(method, seed, question), so runs are reproducible and methods differ."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path

from mlx_entropix.methods import MethodSpec
from mlx_entropix.trace import Metrics, SamplingParams, Stats, TokenRecord, Trace

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


def make_fake_generate(sleep_s: float = 0.0):
    def generate(messages: list[dict[str, str]], spec: MethodSpec, seed: int, max_tokens: int) -> Trace:
        method = spec.label
        question = messages[-1]["content"]
        a, b = map(int, re.search(r"What is (\d+) \+ (\d+)\?", question).groups())
        right = _unit(method, seed, question) < HIT_RATE.get(method, 0.5)
        answer = a + b if right else a + b + 1
        words = f"{a} plus {b} makes {answer}. The answer is {answer}.".split(" ")[:max_tokens]
        outcome = "sample" if spec.is_normal else ("argmax" if right else "adaptive")
        tokens = [
            TokenRecord(
                index=i,
                id=i,
                text=(" " if i else "") + w,
                outcome=outcome,
                inserted=False,
                logprob=-0.5,
                params=SamplingParams(temperature=0.7, top_p=0.9, top_k=0, min_p=0.0),
                metrics=Metrics(*([0.25] * 7)),
            )
            for i, w in enumerate(words)
        ]
        time.sleep(sleep_s)
        return Trace(
            model={"name": "fake-adder"},
            prompt={"messages": messages, "text": question, "n_tokens": 10},
            sampler={"method": "normal" if spec.is_normal else "entropix", "label": method, "seed": seed},
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

    return generate
