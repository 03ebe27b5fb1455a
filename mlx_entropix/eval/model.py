"""The eval's door to the model: a `Decoder` over a loaded model, through
the runner's batched decoding (batch.py: each trace equal to its run alone;
the `normal` baseline is then our engine's plain sampling under the same
filters, one draw per token from the request's own seed). Imported only when
a run starts, so resolving methods and datasets loads no model code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..batch import BatchGenerator, BatchRequest
from ..runner import finish_trace, run_header
from ..trace import Trace
from .multitrace import EvalMethod, SinglePass
from .traces import TraceRequest

if TYPE_CHECKING:
    from ..load import LoadedModel


class ModelDecoder:
    """The eval's Decoder on a loaded model: one BatchGenerator that requests
    join between steps (runner.run_many's loop, open to requests that come
    later). Each trace equals its run alone, whatever rows share its steps."""

    def __init__(self, lm: LoadedModel, max_batch: int):
        self.lm, self.max_batch = lm, max_batch
        self.gen = BatchGenerator(lm, max_batch)
        self.traces: dict[int, Trace] = {}  # by the generator's uid, while decoding

    def add(self, request: TraceRequest) -> int:
        req = request.run_request()
        trace, ids, cfg = run_header(self.lm, req)
        plain = req.normal if req.method == "normal" else None
        if plain is not None:
            trace.sampler["sampled_by"] = "engine"
        uid = self.gen.insert(BatchRequest(ids, cfg, req.options, plain=plain))
        self.traces[uid] = trace
        return uid

    def step(self) -> list[tuple[int, Trace]]:
        done = []
        for uid, response in self.gen.step():
            trace = self.traces[uid]
            if response.record is not None:
                trace.tokens.append(response.record)
            if response.finish_reason is not None:
                elapsed = time.perf_counter() - self.gen.admitted.pop(uid)
                done.append((uid, finish_trace(self.traces.pop(uid), response, elapsed)))
        return done


def for_model(methods: Sequence[EvalMethod], lm: LoadedModel) -> tuple[EvalMethod, ...]:
    """Single-pass presets resolved against the model (its fitted thresholds);
    the multi-trace methods run greedy and plain sampling, which take none."""
    return tuple(SinglePass(m.spec.for_model(lm)) if isinstance(m, SinglePass) else m for m in methods)


def make_decoder(model_ref: str | None, methods: Sequence[EvalMethod], max_batch: int
                 ) -> tuple[ModelDecoder, tuple[EvalMethod, ...]]:
    from ..cli.model import fit_on_first_use, load

    lm = load(model_ref)
    fit_on_first_use(lm, [m.spec.label for m in methods if isinstance(m, SinglePass) and m.spec.source == "preset"])
    return ModelDecoder(lm, max_batch), for_model(methods, lm)
