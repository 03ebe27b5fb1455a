"""mlx_server.py with one row per step, a one-place queue, --normal and explicit CORS origins:
a full queue answers 503 with Retry-After, and the flags change the defaults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from mlx_entropix.server.launch import running_server
from tests.server_process import sse_events

ORIGIN = "https://lab.example"
LONG_RUN = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "sampler": "greedy", "stream": True}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server("--queue-size", "1", "--max-batch", "1", "--normal", "--allowed-origins", ORIGIN) as base:
        yield base


def test_a_full_queue_answers_503_with_retry_after(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http, ExitStack() as streams:
        running = streams.enter_context(http.stream("POST", "/v1/completions", json=LONG_RUN))
        next(line for line in running.iter_lines() if '"entropix"' in line)
        queued = streams.enter_context(http.stream("POST", "/v1/completions", json=LONG_RUN))
        assert queued.status_code == 200
        health = http.get("/health").json()
        assert health["busy"] is True and health["waiting"] == 1

        refused = http.post("/v1/completions", json={**LONG_RUN, "stream": False})
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"]["code"] == "server_busy"
    # both clients gone: the queued one leaves the queue, the running one stops
    with httpx.Client(base_url=server, timeout=120) as http:
        deadline = time.monotonic() + 10
        while (health := http.get("/health").json())["busy"] or health["waiting"]:
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        short = http.post("/v1/completions", json={**LONG_RUN, "stream": False, "max_tokens": 2}, timeout=30)
        assert short.status_code == 200 and short.json()["usage"]["completion_tokens"] == 2
        assert http.get("/health").json()["waiting"] == 0


def test_normal_flag_makes_plain_sampling_the_default(server: str) -> None:
    assert httpx.get(f"{server}/api/config").json()["default_method"] == "normal"
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
    with httpx.stream("POST", f"{server}/api/generate", json=body, timeout=120) as r:
        events = list(sse_events(r.iter_lines()))
    assert events[0][1]["sampler"]["method"] == "normal"
    assert {data["outcome"] for name, data in events if name == "token"} == {"sample"}


def test_allowed_origins_replace_the_localhost_default(server: str) -> None:
    def allowed(origin: str) -> str | None:
        r = httpx.options(f"{server}/v1/chat/completions",
                          headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        return r.headers.get("access-control-allow-origin")

    assert allowed(ORIGIN) == ORIGIN
    assert allowed("http://localhost:5173") is None
