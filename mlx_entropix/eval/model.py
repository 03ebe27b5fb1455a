"""The eval's door to the model: `GenerateMany` over a loaded model. Imported
only when a run starts, so resolving methods and datasets needs no model.

Until batched decoding lands (runner.run_many), traces are generated one after
another with `runner.run`; `--batch` only sets how many requests are handed
over at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .traces import GenerateMany, TraceRequest

if TYPE_CHECKING:
    from ..load import LoadedModel
    from ..trace import Trace


def generate_many_with(lm: LoadedModel) -> GenerateMany:
    from ..runner import run

    def generate_many(requests: list[TraceRequest]) -> list[Trace]:
        return [run(lm, r.run_request()) for r in requests]

    return generate_many


def make_generate_many(model_ref: str | None) -> GenerateMany:
    from ..load import load

    return generate_many_with(load(model_ref))
