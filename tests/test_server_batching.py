"""Continuous batching in mlx_server.py: concurrent requests each get the text
they get alone, and /health reports the batch (that they share steps is
tests/test_batch.py's worker test)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlx_entropix.server.launch import running_server

SHORT = [{"prompt": p, "max_tokens": 12, "sampler": s, "seed": 3}
         for p, s in (("The sea is", "greedy"), ("Once upon a time", "entropix"), ("2 + 2 =", "greedy"))]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server("--max-batch", "2", "--queue-size", "4") as base:
        yield base


def test_each_concurrent_request_gets_its_text_alone(server: str) -> None:
    with httpx.Client(base_url=server, timeout=300) as http:
        def complete(body: dict) -> str:
            reply = http.post("/v1/completions", json=body)
            assert reply.status_code == 200, reply.text
            return reply.json()["choices"][0]["text"]

        alone = [complete(body) for body in SHORT]
        with ThreadPoolExecutor(len(SHORT)) as pool:
            together = list(pool.map(complete, SHORT))
        assert together == alone
        health = http.get("/health").json()
        assert health["max_batch"] == 2 and health["running"] == 0 and health["waiting"] == 0
        # each prompt was prefilled once, when it ran alone; the concurrent run reused them
        assert health["prompt_cache"]["prompts"] == len(SHORT)
        assert health["prompt_cache"]["hits"] == len(SHORT)
        batching = health["batching"]  # 3 requests alone, then 3 at once, 2 rows a step (and branch rollouts)
        assert batching["by_width"]["1"]["steps"] > 0 and batching["by_width"]["2"]["steps"] > 0
        assert batching["prefill"]["passes"] == len(SHORT) and batching["prefill"]["tokens"] > 0
        assert batching["row_steps"] >= 2 * sum(body["max_tokens"] for body in SHORT) - 2 * len(SHORT)
