"""Dense or quantized weights: the choice, and the dequantization.

On a Linux CPU with the optimised BLAS loaded (blas.py), dense float32
matmuls beat MLX's quantized CPU kernels many times over for prompts and
clearly for decoding (see README), at ~4-8x the weight memory. So `auto`
dequantizes a quantized checkpoint there when the dense weights fit in a share
of the machine's RAM (MLX_ENTROPIX_DENSE_RAM_SHARE, default 0.25), and keeps
the quantized weights everywhere else: on the GPU (Metal) and without the
optimised BLAS, where the quantized kernels are the fast ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from . import blas

MODES = ("auto", "dense", "quantized")
RAM_SHARE_ENV = "MLX_ENTROPIX_DENSE_RAM_SHARE"
DEFAULT_RAM_SHARE = 0.25


class WeightModeError(ValueError):
    """A weight mode or RAM share that cannot be used."""


@dataclass(frozen=True)
class WeightChoice:
    """What the model runs with and why; `describe()` is what users see."""

    mode: str  # "dense" or "quantized"
    reason: str
    dense_bytes: int = 0

    @property
    def dense(self) -> bool:
        return self.mode == "dense"

    def describe(self) -> str:
        return f"{self.mode} ({self.reason})"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise WeightModeError(f"unknown weight mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def ram_share() -> float:
    raw = os.environ.get(RAM_SHARE_ENV)
    if raw is None:
        return DEFAULT_RAM_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise WeightModeError(f"{RAM_SHARE_ENV}={raw!r} must be a number in (0, 1], e.g. 0.25")
    return share


def total_ram() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def dense_size(weights: dict[str, mx.array], quant: dict[str, Any] | None) -> int:
    """Bytes of the weights as dense float32 (packed matrices unpacked, their
    scales and biases gone)."""
    quantized = {k.removesuffix(".scales") for k in weights if k.endswith(".scales")}
    total = 0
    for name, v in weights.items():
        module, _, kind = name.rpartition(".")
        if module in quantized and kind in ("scales", "biases"):
            continue
        if module in quantized and kind == "weight":
            params = quant[module] if isinstance((quant or {}).get(module), dict) else quant
            total += v.size * (32 // params["bits"]) * 4
        else:
            total += v.size * 4 if mx.issubdtype(v.dtype, mx.floating) else v.nbytes
    return total


def choose(requested: str, quantized: bool, dense_bytes: int, on_gpu: bool,
           blas_info: blas.BlasInfo | None = None, ram: int | None = None,
           share: float | None = None) -> WeightChoice:
    """The weight mode for a checkpoint; `requested` dense/quantized always wins."""
    check_mode(requested)
    if not quantized:
        return WeightChoice("dense", "the checkpoint is not quantized", dense_bytes)
    if requested != "auto":
        return WeightChoice(requested, "asked for", dense_bytes)
    if on_gpu:
        return WeightChoice("quantized", "auto: the GPU's quantized kernels are fast", dense_bytes)
    info = blas_info or blas.info()
    if not info.optimised:
        return WeightChoice("quantized", "auto: no optimised BLAS for dense matmuls", dense_bytes)
    ram = total_ram() if ram is None else ram
    share = ram_share() if share is None else share
    if dense_bytes > share * ram:
        return WeightChoice("quantized", f"auto: dense weights ({dense_bytes / 2**30:.1f} GiB) exceed "
                            f"{share:g} of RAM ({ram / 2**30:.1f} GiB; {RAM_SHARE_ENV})", dense_bytes)
    return WeightChoice("dense", f"auto: {dense_bytes / 2**20:.0f} MiB of dense float32 fit in {share:g} of RAM",
                        dense_bytes)


def dequantize_weights(weights: dict[str, mx.array], quant: dict[str, Any]) -> dict[str, mx.array]:
    """Dense weights from packed ones, in the dtype of their scales."""
    dense = dict(weights)
    for name in [k for k in weights if k.endswith(".scales")]:
        module = name.removesuffix(".scales")
        params = quant[module] if isinstance(quant.get(module), dict) else quant
        dense[f"{module}.weight"] = mx.dequantize(
            dense[f"{module}.weight"], dense.pop(name), dense.pop(f"{module}.biases", None),
            group_size=params["group_size"], bits=params["bits"])
    return dense


def load_into(model: nn.Module, weights: dict[str, mx.array], quant: dict[str, Any] | None,
              dense: bool, dtype: mx.Dtype) -> None:
    """Fill a freshly built model (ours or an mlx-lm family's) with HF-named,
    sanitized weights: packed ones stay quantized unless `dense`, floating ones
    are cast to `dtype` (the activation dtype) first, so dequantized weights
    come out in it."""
    if quant and not dense:
        def quantized(path: str, module: nn.Module) -> bool | dict[str, int]:
            if f"{path}.scales" not in weights:
                return False
            override = quant.get(path)
            return override if isinstance(override, dict) else True

        nn.quantize(model, group_size=quant["group_size"], bits=quant["bits"],
                    class_predicate=quantized)
    weights = {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v
               for k, v in weights.items()}
    if quant and dense:  # after the cast, so the scales have the activation dtype as in the kernels
        weights = dequantize_weights(weights, quant)
    model.load_weights(list(weights.items()), strict=True)
    mx.eval(model.parameters())


def requantize(model: nn.Module, bits: int, group_size: int = 32) -> None:
    """MLX-quantize a dense model's linear layers and embeddings (a GGUF file's
    K-quants and 5-bit types have no MLX layout; this keeps about their size)."""
    nn.quantize(model, group_size=group_size, bits=bits,
                class_predicate=lambda _, m: hasattr(m, "to_quantized") and m.weight.shape[-1] % group_size == 0)
    mx.eval(model.parameters())
