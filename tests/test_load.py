"""Loading: folders, the HF cache, GGUF files, and the one-line errors."""

import mlx.core as mx
import numpy as np
import pytest

from mlx_entropix.gguf import GGUFError, tensor_types
from mlx_entropix.load import LoadError, load
from tests.llama_fixtures import gguf_bytes, random_weights, tiny_config, write_checkpoint


@pytest.fixture(scope="module")
def folder(tmp_path_factory, lm):
    config = tiny_config(vocab_size=lm.model.args.vocab_size, hidden_size=32,
                         intermediate_size=64, quantization={"group_size": 32, "bits": 4})
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-llama", config,
                            random_weights(config), lm.tokenizer)


def test_folder_loads_and_runs(folder):
    lm = load(str(folder))
    assert lm.model.args.num_hidden_layers == 2 and lm.name == "tiny-llama"
    logits = lm.model(mx.array([lm.tokenizer.encode("hello")]))
    assert np.isfinite(np.array(logits)).all()
    assert lm.info()["quantization"]["bits"] == 4


def test_repo_id_in_hf_cache_loads_offline(folder, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-llama" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (cache / "models--someone--tiny-llama" / "refs").mkdir()
    (cache / "models--someone--tiny-llama" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert load("someone/tiny-llama").model.args.hidden_size == 32
    with pytest.raises(LoadError, match="mlx_download_weights.py --model-id someone/absent"):
        load("someone/absent")


def one_line(exc: Exception) -> str:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_path_is_a_one_line_error():
    with pytest.raises(LoadError) as e:
        load("./no/such/model")
    assert "not found" in one_line(e.value)


def test_corrupt_safetensors_is_a_one_line_error(folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(LoadError) as e:
        load(str(broken))
    assert "model.safetensors" in one_line(e.value) and "corrupt" in str(e.value)


def test_folder_without_config_or_weights(tmp_path):
    with pytest.raises(LoadError, match="no config.json"):
        load(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llama"')
    with pytest.raises(LoadError, match="not valid JSON"):
        load(str(tmp_path))


@pytest.mark.parametrize("type_id,name,reason", [
    (12, "Q4_K", "metadata lacks llama."), (13, "Q5_K", "metadata lacks llama."),
    (6, "Q5_0", "metadata lacks llama."), (16, "IQ2_XXS", "tensor type IQ2_XXS is not supported")])
def test_gguf_tensor_types_past_the_header(tmp_path, type_id, name, reason):
    """K-quants and Q5_0 pass the type check (the file then fails on its missing
    metadata); a type the gguf package does not dequantise is refused by name."""
    path = tmp_path / "model.gguf"
    path.write_bytes(gguf_bytes(type_id))
    assert tensor_types(path) == {"token_embd.weight": name}
    with pytest.raises(LoadError) as e:
        load(str(path))
    assert reason in one_line(e.value)
    if name == "IQ2_XXS":
        assert "Q4_K" in str(e.value) and "Q6_K" in str(e.value)


def test_truncated_and_foreign_gguf(tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(gguf_bytes(2)[:60])
    with pytest.raises(GGUFError, match="truncated"):
        tensor_types(path)
    other = tmp_path / "x.gguf"
    other.write_bytes(b"PK\x03\x04 not a gguf at all")
    with pytest.raises(LoadError, match="not a GGUF"):
        load(str(other))


def test_embedded_model_config(lm):
    info = lm.info()
    assert info["n_layers"] == 30 and info["n_heads"] == 9 and info["n_kv_heads"] == 3
    assert info["family"] == "llama" and info["attention_metrics"] and info["attention_note"] == ""
    assert lm.config["quantization"]["bits"] == 4
    assert lm.config["quantization"]["model.embed_tokens"]["bits"] == 8
