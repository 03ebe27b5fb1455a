"""Continuous batching in mlx_server.py: concurrent requests share decode steps
(/health counts them as running, none waits), each gets the text it gets alone,
and clients that leave free their rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from mlx_entropix.server.launch import running_server

LONG_RUN = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "sampler": "greedy", "stream": True}
SHORT = [{"prompt": p, "max_tokens": 12, "sampler": s, "seed": 3}
         for p, s in (("The sea is", "greedy"), ("Once upon a time", "entropix"), ("2 + 2 =", "greedy"))]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server("--max-batch", "2", "--queue-size", "4") as base:
        yield base


def wait_idle(http: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while (health := http.get("/health").json())["running"] or health["waiting"]:
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_concurrent_streams_run_together_and_leaving_frees_their_rows(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
        with ExitStack() as streams:
            for _ in range(2):
                stream = streams.enter_context(http.stream("POST", "/v1/completions", json=LONG_RUN))
                next(line for line in stream.iter_lines() if '"entropix"' in line)
            health = http.get("/health").json()
            assert health["running"] == 2 and health["waiting"] == 0 and health["max_batch"] == 2
            third = streams.enter_context(http.stream("POST", "/v1/completions", json=LONG_RUN))
            assert third.status_code == 200 and http.get("/health").json()["waiting"] == 1
        wait_idle(http)  # all three clients gone: rows freed, the queued one dropped


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
