"""Swap a function that mlx-lm's model files call by the name they import it
under, in the modules a loaded model's classes come from, for one call.

A family may delegate to another family's module (mistral to llama), so the
modules are found from the model's own classes. Outside the `with`, mlx-lm's
function is back: mlx-lm's own calls in the same process keep theirs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import mlx.nn as nn


def modules_calling(model: nn.Module, name: str, function: Callable) -> list[ModuleType]:
    """The modules of the model's classes whose global `name` is `function`."""
    names = {type(m).__module__ for m in model.modules()}
    modules = [sys.modules[n] for n in sorted(names) if n in sys.modules]
    return [m for m in modules if getattr(m, name, None) is function]


@contextlib.contextmanager
def rebound(modules: list[ModuleType], name: str, original: Callable, replacement: Callable) -> Iterator[None]:
    """`name` is `replacement` in `modules` inside the block, `original` again after (on an error too)."""
    for module in modules:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module in modules:
            setattr(module, name, original)
