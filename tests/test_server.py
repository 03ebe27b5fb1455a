"""mlx_server.py against a live uvicorn with the embedded model: the OpenAI
client, the native event stream, concurrency, disconnects and bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openapi_spec_validator import validate

from mlx_entropix.calibrate import CHOSEN_TARGETS
from mlx_entropix.sampler import PRESETS, config_fields
from mlx_entropix.sampler.config import DEFAULT_PRESET
from mlx_entropix.server.fitting import fitting_prompt_count
from mlx_entropix.server.launch import running_server
from mlx_entropix.trace import METRIC_NAMES, OUTCOMES
from tests.server_process import sse_events

MESSAGES = [{"role": "user", "content": "Name three colors."}]
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def server() -> str:
    with running_server("--queue-size", "4") as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=TIMEOUT)


def chat(client: openai.OpenAI, **kw: Any) -> Any:
    args = {"model": "any", "messages": MESSAGES, "max_tokens": 6, **kw}
    return client.chat.completions.create(**args)


def stream_chat(client: openai.OpenAI, **kw: Any) -> list[Any]:
    return list(chat(client, stream=True, **kw))


def content_chunks(chunks: list[Any]) -> list[Any]:
    return [c for c in chunks if c.choices and c.choices[0].delta.content]


def streamed_text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def assert_healthy(server: str) -> None:
    assert httpx.get(f"{server}/health", timeout=10).json()["status"] == "ok"


def test_chat_whole_and_streamed_agree_for_one_seed(client: openai.OpenAI) -> None:
    whole = chat(client, seed=7, max_tokens=7)
    assert whole.object == "chat.completion"
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 7
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + 7 > 7

    chunks = stream_chat(client, seed=7, max_tokens=7, stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert streamed_text(chunks) == whole.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7


def test_every_token_chunk_carries_its_trace_entry(client: openai.OpenAI) -> None:
    chunks = stream_chat(client, seed=3)
    tokens = [c for c in chunks if c.model_extra.get("entropix")]
    assert content_chunks(chunks) and all(c.model_extra.get("entropix") for c in content_chunks(chunks))
    assert [c.model_extra["entropix"]["index"] for c in tokens] == list(range(len(tokens))) == list(range(6))
    for c in tokens:
        entry = c.model_extra["entropix"]
        assert entry["text"] == c.choices[0].delta.content
        assert entry["outcome"] in OUTCOMES and set(entry["metrics"]) == set(METRIC_NAMES)
        assert set(entry["params"]) == {"temperature", "top_p", "top_k", "min_p"}


def test_normal_sampler_is_reproducible_with_a_seed(client: openai.OpenAI) -> None:
    extra = {"sampler": "normal"}
    first = chat(client, seed=11, temperature=1.0, extra_body=extra).choices[0].message.content
    chunks = stream_chat(client, seed=11, temperature=1.0, extra_body=extra)
    assert streamed_text(chunks) == first
    entries = [c.model_extra["entropix"] for c in content_chunks(chunks)]
    assert {e["outcome"] for e in entries} == {"sample"}
    assert all(abs(e["params"]["temperature"] - 1.0) < 1e-6 for e in entries)


def test_logprobs_put_the_sampled_token_first(client: openai.OpenAI) -> None:
    chunks = stream_chat(client, max_tokens=4, logprobs=True, top_logprobs=3, extra_body={"sampler": "greedy"})
    for c in content_chunks(chunks):
        (entry,) = c.choices[0].logprobs.content
        assert entry.token == c.model_extra["entropix"]["text"]
        assert bytes(entry.bytes).decode() == entry.token
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        # greedy: the sampled token is the most probable one
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)


def test_stop_string_ends_the_answer_before_it(client: openai.OpenAI) -> None:
    greedy = {"sampler": "greedy"}
    full = chat(client, max_tokens=10, extra_body=greedy).choices[0].message.content
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    expected = full[:full.index(stop)]
    whole = chat(client, max_tokens=10, stop=[stop], extra_body=greedy)
    assert whole.choices[0].finish_reason == "stop"
    assert whole.choices[0].message.content == expected
    chunks = stream_chat(client, max_tokens=10, stop=stop, extra_body=greedy)
    assert streamed_text(chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_text_completion_of_a_raw_prompt(client: openai.OpenAI) -> None:
    args = {"model": "any", "prompt": "The capital of France is", "max_tokens": 4,
            "extra_body": {"sampler": "greedy"}}
    whole = client.completions.create(**args, logprobs=2)
    choice = whole.choices[0]
    assert choice.text.startswith(" Paris") and choice.finish_reason == "length"
    assert whole.usage.prompt_tokens == 5 and whole.usage.completion_tokens == 4
    assert len(choice.logprobs.tokens) == 4 and all(len(t) == 2 for t in choice.logprobs.top_logprobs)
    chunks = list(client.completions.create(**args, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == choice.text
    assert all(c.model_extra.get("entropix") for c in chunks if c.choices[0].text)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_native_stream_sends_start_tokens_and_done(server: str) -> None:
    body = {"messages": MESSAGES, "method": "entropix", "seed": 5, "max_tokens": 8}
    with httpx.stream("POST", f"{server}/api/generate", json=body, timeout=TIMEOUT) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r.iter_lines()))
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done"
    assert set(names[1:-1]) <= {"token", "branch"}
    start = events[0][1]
    assert start["sampler"]["method"] == "entropix" and start["sampler"]["seed"] == 5
    assert start["sampler"]["preset"] == DEFAULT_PRESET
    assert start["prompt"]["messages"] == MESSAGES and start["model"]["context_length"] == 8192
    tokens = [data for name, data in events if name == "token"]
    assert [t["index"] for t in tokens] == list(range(8))
    for i, (name, data) in enumerate(events):
        if name == "branch":  # right after its token, the same object
            assert events[i - 1][0] == "token" and events[i - 1][1]["index"] == data["index"]
            assert events[i - 1][1]["branch"] == data["branch"]
    done = events[-1][1]
    assert done["text"] == "".join(t["text"] for t in tokens)
    assert done["stats"]["generation_tokens"] == 8 and done["stats"]["finish_reason"] == "length"
    assert sum(done["stats"]["outcome_counts"].values()) == 8


def test_native_stream_carries_per_layer_arrays_when_asked(server: str) -> None:
    def tokens(**extra: Any) -> list[dict[str, Any]]:
        body = {"messages": MESSAGES, "method": "entropix", "seed": 5, "max_tokens": 3, **extra}
        with httpx.stream("POST", f"{server}/api/generate", json=body, timeout=TIMEOUT) as r:
            return [data for name, data in sse_events(r.iter_lines()) if name == "token"]

    assert all("layers" not in t for t in tokens())
    config = httpx.get(f"{server}/api/config", timeout=TIMEOUT).json()["model"]
    for t in tokens(layers=True):
        grid = t["layers"]["attn_entropy"]
        assert len(grid) == config["n_layers"] and all(len(row) == config["n_heads"] for row in grid)
        assert len(t["layers"]["attn_head_varentropy"]) == config["n_layers"]


def test_config_describes_model_samplers_and_outcomes(server: str) -> None:
    cfg = httpx.get(f"{server}/api/config").json()
    assert cfg["unit"] == "nats" and cfg["default_method"] == "entropix"
    assert cfg["model"]["context_length"] == cfg["max_tokens_limit"] == 8192
    assert cfg["model"]["family"] == "llama" and cfg["model"]["attention_metrics"] is True
    assert cfg["max_tokens_default"] == 256
    assert set(cfg["presets"]) == set(cfg["thresholds"]) == set(PRESETS)
    assert cfg["thresholds"]["entropix"].startswith("fitted for SmolLM2-135M-Instruct")
    assert cfg["presets"]["entropix"]["thresholds"] == "fitted"
    assert cfg["thresholds"]["entropix-paper"] == "published"
    assert set(cfg["presets"]["greedy"]) == {f["name"] for f in config_fields()}
    assert cfg["config_fields"] == json.loads(json.dumps(config_fields()))
    assert cfg["normal_defaults"] == {"temperature": 0.666, "top_p": 0.9, "min_p": 0.03, "top_k": 0}
    assert [o["name"] for o in cfg["outcomes"]] == list(OUTCOMES)
    assert all(o["label"] for o in cfg["outcomes"])
    assert cfg["fit_prompts_limit"] == fitting_prompt_count() > 1
    assert cfg["fit_targets"] == dataclasses.asdict(CHOSEN_TARGETS)


def test_models_and_health(server: str, client: openai.OpenAI) -> None:
    (model,) = client.models.list().data
    assert model.id.startswith("SmolLM2-135M")
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and health["backend"] == "cpu" and health["queue_size"] == 4


def test_three_concurrent_streams_match_their_solo_runs(client: openai.OpenAI) -> None:
    requests = [{"seed": 1, "max_tokens": 4},
                {"seed": 2, "max_tokens": 5, "extra_body": {"sampler": "normal"}},
                {"max_tokens": 6, "extra_body": {"sampler": "greedy"},
                 "messages": [{"role": "user", "content": "Say something about cats."}]}]

    def run(kw: dict[str, Any]) -> list[int]:
        return [c.model_extra["entropix"]["id"] for c in stream_chat(client, **kw)
                if c.model_extra.get("entropix")]

    alone = [run(kw) for kw in requests]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(run, requests))
    assert together == alone
    assert [len(ids) for ids in together] == [4, 5, 6]


def test_a_disconnected_stream_stops_and_the_next_request_starts_at_once(server: str,
                                                                        client: openai.OpenAI) -> None:
    body = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "sampler": "greedy", "stream": True}
    with httpx.stream("POST", f"{server}/v1/completions", json=body, timeout=TIMEOUT) as r:
        tokens = 0
        for line in r.iter_lines():
            tokens += line.startswith("data:") and '"entropix"' in line
            if tokens == 2:
                break
    start = time.monotonic()
    answer = chat(client, max_tokens=3, extra_body={"sampler": "greedy"})
    assert answer.usage.completion_tokens == 3
    assert time.monotonic() - start < 20  # the abandoned run would take minutes
    assert httpx.get(f"{server}/health").json()["busy"] is False


def test_a_disconnected_non_streaming_request_is_dropped(server: str, client: openai.OpenAI) -> None:
    body = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "sampler": "greedy"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server}/v1/completions", json=body, timeout=3)
    start = time.monotonic()
    assert chat(client, max_tokens=3, extra_body={"sampler": "greedy"}).usage.completion_tokens == 3
    assert time.monotonic() - start < 20


LONG = "hello " * 9000
BAD_INPUTS = [
    ("/v1/chat/completions", '{"messages": [', 400, None),
    ("/v1/chat/completions", "[1, 2]", 422, None),
    ("/v1/chat/completions", {"messages": []}, 422, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, 422, "messages.0.role"),
    ("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": "5"}, 422, "max_tokens"),
    ("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": -1}, 422, "max_tokens"),
    ("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 10**6}, 400, "max_tokens"),
    ("/v1/chat/completions", {"messages": MESSAGES, "max_completion_tokens": 10**6}, 400,
     "max_completion_tokens"),
    ("/v1/chat/completions", {"messages": MESSAGES, "sampler": "beam"}, 422, "sampler"),
    ("/v1/chat/completions", {"messages": MESSAGES, "temperature": 0}, 400, "temperature"),
    ("/v1/chat/completions", {"messages": MESSAGES, "top_p": 1.5}, 422, "top_p"),
    ("/v1/chat/completions", {"messages": MESSAGES, "sampler_config": {"low_ent": -1}}, 400,
     "sampler_config.low_ent"),
    ("/v1/chat/completions", {"messages": MESSAGES, "sampler_config": {"nope": 1}}, 400,
     "sampler_config.nope"),
    ("/v1/chat/completions", {"messages": MESSAGES, "logprobs": True, "top_logprobs": 9}, 422,
     "top_logprobs"),
    ("/v1/chat/completions", {"messages": MESSAGES, "n": 2}, 422, "n"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": LONG}]}, 413, "messages"),
    ("/v1/completions", {"prompt": ""}, 422, "prompt"),
    ("/v1/completions", {"prompt": LONG, "stream": True}, 413, "prompt"),
    ("/api/generate", {"messages": MESSAGES, "method": "magic"}, 422, "method"),
    ("/api/generate", {"messages": MESSAGES, "preset": "nope"}, 400, "preset"),
    ("/api/generate", {"messages": MESSAGES, "config": {"n_branches": 1}}, 400, "config.n_branches"),
    ("/api/generate", {"messages": MESSAGES, "normal": {"top_p": 0}}, 400, "normal"),
    ("/api/generate", {"messages": MESSAGES, "model": "/etc/passwd"}, 422, "model"),
    ("/api/generate", {"messages": MESSAGES, "layers": "yes"}, 422, "layers"),
]


@pytest.mark.parametrize("path,body,status,param", BAD_INPUTS)
def test_bad_input_is_refused_with_an_openai_error(server: str, path: str, body: Any, status: int,
                                                   param: str | None) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    r = httpx.post(f"{server}{path}", content=content, headers={"content-type": "application/json"},
                   timeout=TIMEOUT)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["param"] == param
    assert_healthy(server)


def test_cors_allows_localhost_origins_only(server: str) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{server}/api/generate", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})

    assert preflight("http://localhost:5173").headers["access-control-allow-origin"] == "http://localhost:5173"
    assert preflight("http://127.0.0.1:3000").headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert "access-control-allow-origin" not in preflight("https://example.com").headers


def test_openapi_schema_is_valid(server: str) -> None:
    schema = httpx.get(f"{server}/openapi.json").json()
    validate(schema)
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/models", "/health",
                 "/api/config", "/api/generate"):
        assert path in schema["paths"]
    errors = schema["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"400", "413", "422", "503"} <= set(errors)


def test_the_built_ui_is_served_at_the_root_without_hiding_the_api(server: str) -> None:
    if not (Path(__file__).resolve().parents[1] / "ui" / "dist" / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail("ui/dist is missing: .ci/run builds the UI (bun run build) before the tests")
        pytest.skip("the UI is not built: cd ui && bun install && bun run build")
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{server}/api/config").headers["content-type"] == "application/json"
    missing = httpx.get(f"{server}/no-such-file.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "http_404"
