"""The eval's door to the model: `GenerateMany` over a loaded model, through
the runner's batched decoding (`run_many`: each trace equal to its run alone;
the `normal` baseline is then our engine's plain sampling under the same
filters, one draw per token from the request's own seed). Imported only when
a run starts, so resolving methods and datasets needs no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .multitrace import EvalMethod, SinglePass
from .traces import GenerateMany, TraceRequest

if TYPE_CHECKING:
    from ..load import LoadedModel
    from ..trace import Trace


def generate_many_with(lm: LoadedModel, max_batch: int | None = None) -> GenerateMany:
    from ..runner import run_many

    def generate_many(requests: list[TraceRequest]) -> list[Trace]:
        reqs = [r.run_request() for r in requests]
        return run_many(lm, reqs, max_batch=max_batch or max(1, len(reqs)))

    return generate_many


def for_model(methods: Sequence[EvalMethod], lm: LoadedModel) -> tuple[EvalMethod, ...]:
    """Single-pass presets resolved against the model (its fitted thresholds);
    the multi-trace methods run greedy and plain sampling, which take none."""
    return tuple(SinglePass(m.spec.for_model(lm)) if isinstance(m, SinglePass) else m for m in methods)


def make_generate_many(model_ref: str | None, methods: Sequence[EvalMethod]
                       ) -> tuple[GenerateMany, tuple[EvalMethod, ...]]:
    from ..cli.model import fit_on_first_use, load

    lm = load(model_ref)
    fit_on_first_use(lm, [m.spec.label for m in methods if isinstance(m, SinglePass) and m.spec.source == "preset"])
    return generate_many_with(lm), for_model(methods, lm)
