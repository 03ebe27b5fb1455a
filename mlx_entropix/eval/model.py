"""The eval's door to the model: a `Decoder` over a loaded model, through
the runner's batched decoding (batch.py: each trace equal to its run alone;
the `normal` baseline is then our engine's plain sampling under the same
filters, one draw per token from the request's own seed). Imported only when
a run starts, so resolving methods and datasets loads no model code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..runner import TraceDecoder
from ..trace import Trace
from .multitrace import EvalMethod, SinglePass
from .traces import TraceRequest

if TYPE_CHECKING:
    from ..load import LoadedModel


class ModelDecoder:
    """The eval's Decoder on a loaded model: the runner's TraceDecoder, fed the
    eval's trace requests. Each trace equals its run alone, whatever rows
    share its steps."""

    def __init__(self, lm: LoadedModel, max_batch: int):
        self.decoder = TraceDecoder(lm, max_batch)
        self.max_batch = max_batch

    def add(self, request: TraceRequest) -> int:
        return self.decoder.add(request.run_request())

    def step(self) -> list[tuple[int, Trace]]:
        return self.decoder.step()

    def batching(self) -> dict:
        return self.decoder.gen.timing.to_dict()


def for_model(methods: Sequence[EvalMethod], lm: LoadedModel) -> tuple[EvalMethod, ...]:
    """Single-pass presets resolved against the model (its fitted thresholds);
    the multi-trace methods run greedy and plain sampling, which take none."""
    return tuple(SinglePass(m.spec.for_model(lm)) if isinstance(m, SinglePass) else m for m in methods)


def prepared(lm: LoadedModel, methods: Sequence[EvalMethod]) -> tuple[EvalMethod, ...]:
    """The methods as they will run on lm: its thresholds fitted first if a
    preset needs them and the model has none yet (fit on first use)."""
    from ..cli.model import fit_on_first_use

    fit_on_first_use(lm, [m.spec.label for m in methods if isinstance(m, SinglePass) and m.spec.source == "preset"])
    return for_model(methods, lm)


def make_decoder(model_ref: str | None, methods: Sequence[EvalMethod], max_batch: int
                 ) -> tuple[ModelDecoder, tuple[EvalMethod, ...]]:
    from ..cli.model import load

    lm = load(model_ref)
    return ModelDecoder(lm, max_batch), prepared(lm, methods)
