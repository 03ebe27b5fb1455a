"""Fuzzing every text and number a client or a user can hand us: the server's
request bodies (the real app on the session's model) and the CLI's text
inputs. Whatever comes in, the answer is a 4xx JSON error or a normal answer,
never a 5xx or a traceback, and the server still answers afterwards.

Derandomized (the same examples every run) and bounded: every body that could
be valid asks for at most two tokens. The app and the CLI run the session
model's own tokenizer (where text goes wrong) on two random layers of its
vocabulary, so the many valid examples cost milliseconds, not seconds.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typer.testing import CliRunner

from mlx_entropix.cli import app as cli
from mlx_entropix.load import LoadedModel, build_model
from mlx_entropix.sampler import SamplerConfig
from mlx_entropix.server import ServerSettings, create_app
from tests.llama_fixtures import random_weights, tiny_config

FUZZ = settings(derandomize=True, max_examples=15, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Odd text: any code point (lone surrogates, NUL, controls, private use, non-BMP).
ODD_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
TEXT = st.one_of(ODD_TEXT, st.sampled_from(["", " ", "\x00", "\ud800 x", "\udfff", "a" * 40, "<|im_end|>"]))
HUGE = st.sampled_from([2**31, 2**63, 2**64, 10**30, 10**400, -(10**30)])
NUMBER = st.one_of(st.integers(-3, 3), HUGE, st.floats(allow_nan=False, allow_infinity=False), st.just(1e308))
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)
ANY = st.one_of(SCALAR, JSON)
TOKENS = st.sampled_from([1, 2])
FIELDS = [f.name for f in SamplerConfig.__dataclass_fields__.values()]
CONFIG_VALUE = st.one_of(st.floats(-1, 10), st.integers(-1, 40), st.booleans(), TEXT, HUGE, ANY)
CONFIG = st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), CONFIG_VALUE, max_size=3)
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]),
                                           "content": TEXT}), min_size=1, max_size=2)
SAMPLING = dict(temperature=st.one_of(st.floats(0, 3), HUGE), top_p=st.floats(0, 1),
                top_k=st.one_of(st.integers(0, 100), HUGE), min_p=st.floats(0, 1),
                seed=st.one_of(st.integers(0, 2**64 + 1), HUGE))
OPENAI = dict(SAMPLING, stop=st.one_of(TEXT, st.lists(TEXT, max_size=5)), stream=st.booleans(),
              stream_options=st.fixed_dictionaries({"include_usage": st.booleans()}),
              sampler=st.sampled_from(["entropix", "normal", "greedy"]), sampler_config=CONFIG,
              model=TEXT)
ROUTES = {
    "/v1/chat/completions": st.fixed_dictionaries(
        {"messages": MESSAGES, "max_tokens": TOKENS},
        optional=dict(OPENAI, logprobs=st.booleans(), top_logprobs=st.integers(0, 6))),
    "/v1/completions": st.fixed_dictionaries(
        {"prompt": TEXT, "max_tokens": TOKENS}, optional=dict(OPENAI, logprobs=st.integers(0, 6))),
    "/api/generate": st.fixed_dictionaries(
        {"messages": MESSAGES, "max_tokens": TOKENS},
        optional=dict(method=st.sampled_from(["entropix", "normal", "greedy"]),
                      preset=st.one_of(st.sampled_from(["entropix", "greedy", "no_branch"]), TEXT),
                      config=CONFIG, seed=SAMPLING["seed"],
                      normal=st.fixed_dictionaries({}, optional={k: SAMPLING[k] for k in
                                                                 ("temperature", "top_p", "min_p", "top_k")}))),
}


@st.composite
def bodies(draw, route: str) -> Any:
    """A mostly valid body with odd text, and sometimes one field (or the whole
    body) replaced by any JSON value: wrong types, huge numbers, deep nesting."""
    body = draw(ROUTES[route])
    where = draw(st.sampled_from([None, None, "*", *body, "extra"]))
    if where == "*":
        return draw(ANY)
    if where is not None:
        body[where] = draw(ANY)
    return body


@pytest.fixture(scope="module")
def small_lm(lm) -> LoadedModel:
    """The session model's tokenizer and vocabulary on two random layers."""
    config = tiny_config(vocab_size=lm.model.args.vocab_size, max_position_embeddings=256)
    return LoadedModel(build_model(random_weights(config, seed=9), config), lm.tokenizer, config,
                       "tiny", "tiny")


@pytest.fixture(scope="module")
def fuzz_api(small_lm):
    from fastapi.testclient import TestClient

    app = create_app(small_lm, ServerSettings(ui_dir=None))
    with TestClient(app, raise_server_exceptions=False) as client:
        while client.get("/api/config").json()["first_fit"]["state"] == "running":
            time.sleep(0.05)  # the tiny model's first-use fit: entropix presets wait for it
        yield client


@pytest.fixture
def run_cli(small_lm, monkeypatch):
    monkeypatch.setattr(cli, "load", lambda ref, weights="auto": small_lm)
    runner = CliRunner()
    return lambda *args, stdin=None: runner.invoke(cli.app, list(args), input=stdin)


def raw(body: Any) -> bytes:
    """JSON as a client may send it: lone surrogates escaped, huge numbers as written."""
    return json.dumps(body, allow_nan=False).encode()


def assert_answered(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    elif "text/event-stream" in response.headers.get("content-type", ""):
        assert "generation failed" not in response.text, response.text
        assert "event: error" not in response.text, response.text


@pytest.mark.parametrize("path", list(ROUTES))
def test_server_never_answers_5xx(fuzz_api, path):
    @FUZZ
    @given(body=bodies(path))
    def check(body):
        assert_answered(fuzz_api.post(path, content=raw(body), headers={"content-type": "application/json"}))

    check()
    assert fuzz_api.get("/health").json()["status"] == "ok"


@FUZZ
@given(content=st.one_of(
    st.binary(max_size=40),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 3000).map(lambda depth: b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"),
    st.sampled_from([b"", b"{", b"null", b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
                     b'{"prompt": "\xff\xfe", "max_tokens": 1}', b'{"prompt": "a\\u0000b", "max_tokens": 1}',
                     b'{"messages": 1e999999}', b"1" * 5000])))
def test_server_survives_raw_bytes_and_deep_json(fuzz_api, content):
    for path in ROUTES:
        assert_answered(fuzz_api.post(path, content=content, headers={"content-type": "application/json"}))


@FUZZ
@given(text=ODD_TEXT, where=st.sampled_from(["--input", "--system-prompt", "stdin"]))
def test_cli_text_inputs_end_in_an_answer_or_one_error_line(run_cli, text, where):
    args = ["--max-tokens", "1", "--preset", "greedy"]
    if where == "stdin":
        result = run_cli("--input", "-", *args, stdin=text.encode("utf-8", "surrogatepass"))
    elif where == "--input":
        result = run_cli("--input", text, *args)
    else:
        result = run_cli("--input", "Hi", "--system-prompt", text, *args)
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
