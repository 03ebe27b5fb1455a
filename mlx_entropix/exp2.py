"""Exponentials as powers of two, for MLX's CPU.

MLX's x86 CPU build computes exp in scalar code that calls libm's fmaf for
each term of its polynomial, and 2^y through mx.power is one scalar powf
call. On the CPU, 2^y here is built from elementwise arithmetic that the C++
compiler behind MLX's compiled graphs turns into vector code: y rounded to an
integer n and a remainder f in [-1/2, 1/2], 2^f from Cephes' exp2f
polynomial (relative error 2e-7), 2^n written straight into a float's
exponent bits. On 8 rows of the 0.5B model, silu(gate) * up took 361 us a
layer through powf and 158 us this way, the attention softmax 249 against
158 us (results within 3e-7 relative of powf's). Elsewhere (Metal) 2^y is
mx.power, which is vector code there. The Llama port calls these; mlx-lm's
families get swiglu through FamilyModel (families/rebind.py) and softmax
through the attention recorder.
"""

from __future__ import annotations

import math
from functools import partial

import mlx.core as mx

LOG2_E = 1 / math.log(2)


# Cephes' exp2f: 2^f = 1 + f P(f) for f in [-1/2, 1/2], highest power first.
EXP2_POLY = (1.535336188319500e-4, 1.339887440266574e-3, 9.618437357674640e-3,
             5.550332471162809e-2, 2.402264791363012e-1, 6.931472028550421e-1)
# Adding and subtracting 1.5 * 2^23 rounds a float32 of magnitude below 2^22 to an integer.
ROUND = 12582912.0


def on_cpu() -> bool:
    """Whether 2^y is built from arithmetic (the CPU) rather than mx.power.
    Decided when a graph is traced: a compiled function keeps its choice."""
    return mx.default_device() == mx.cpu


def exp_parts(x: mx.array) -> tuple[mx.array, mx.array]:
    """e^x as two factors, 2^f and the bits of the float 2^n (int32, to be
    viewed as float32: `scale`), with n + f = x log2 e rounded to float32, n an
    integer. The view ends a compiled graph, so compiled callers return the
    bits and multiply in a second graph. x log2 e is clipped to [-127, 128]
    first: 2^-127's exponent field is 0, so x log2 e <= -126.5 (-inf among
    them) gives exactly 0 (what is lost is below 2^-126, denormal), and
    >= 127.5 gives inf (exponent field 255); NaN stays NaN."""
    y = mx.clip(x.astype(mx.float32) * LOG2_E, -127.0, 128.0)
    n = (y + ROUND) - ROUND
    f = y - n
    p = EXP2_POLY[0]
    for c in EXP2_POLY[1:]:
        p = p * f + c
    return 1 + f * p, (n.astype(mx.int32) + 127) * (1 << 23)


def scale(bits: mx.array) -> mx.array:
    """The float32 whose bits exp_parts gave."""
    return bits.view(mx.float32)


def exp(x: mx.array) -> mx.array:
    """e^x as 2^(x log2 e): 0 at -inf, inf past float32's range."""
    if not on_cpu():
        return mx.power(2.0, x * LOG2_E)
    frac, bits = exp_parts(x)
    return frac * scale(bits)


def _softmax(x: mx.array) -> mx.array:
    w = exp(x - mx.max(x, axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def _softmax_parts(x: mx.array) -> tuple[mx.array, mx.array]:
    return exp_parts(x - mx.max(x, axis=-1, keepdims=True))


def _normalised(frac: mx.array, factor: mx.array) -> mx.array:
    w = frac * factor
    return w / w.sum(axis=-1, keepdims=True)


# One compiled graph for every length > 1. A shapeless graph with a reduction
# traced at length > 1 and run at length 1 corrupts memory in MLX 0.32, so a
# single entry (a one-token prompt's first step) runs uncompiled.
_compiled_softmax = mx.compile(_softmax, shapeless=True)
_compiled_softmax_parts = mx.compile(_softmax_parts, shapeless=True)
_compiled_normalised = mx.compile(_normalised, shapeless=True)


def softmax(x: mx.array) -> mx.array:
    """softmax over the last axis; an entry of -inf gets 0."""
    if x.shape[-1] == 1:
        return _softmax(x)
    if not on_cpu():
        return _compiled_softmax(x)
    frac, bits = _compiled_softmax_parts(x)
    return _compiled_normalised(frac, scale(bits))


@partial(mx.compile, shapeless=True)
def _swiglu(gate: mx.array, up: mx.array) -> mx.array:
    return gate / (1 + exp(-gate)) * up


@partial(mx.compile, shapeless=True)
def _silu_parts(gate: mx.array) -> tuple[mx.array, mx.array]:
    return exp_parts(-gate)


@partial(mx.compile, shapeless=True)
def _swiglu_from(gate: mx.array, up: mx.array, frac: mx.array, factor: mx.array) -> mx.array:
    return gate / (1 + frac * factor) * up


def swiglu(gate: mx.array, up: mx.array) -> mx.array:
    """silu(gate) * up, with silu(g) = g / (1 + e^-g)."""
    if not on_cpu():
        return _swiglu(gate, up)
    frac, bits = _silu_parts(gate)
    return _swiglu_from(gate, up, frac, scale(bits))
