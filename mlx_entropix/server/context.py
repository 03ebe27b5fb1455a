"""What every route needs: the model, the worker, the server's defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..load import LoadedModel
from ..runner import RunRequest
from ..sampler.config import DEFAULT_PRESET, FITTED_PRESETS
from .errors import busy, fitting, run_error
from .fitting import FirstFitStatus
from .worker import Generation, QueueFull, Worker


@dataclass
class ServerContext:
    lm: LoadedModel
    worker: Worker
    default_method: str = "entropix"
    first_fit: FirstFitStatus = field(default_factory=FirstFitStatus)

    def submit(self, req: RunRequest) -> Generation:
        """Queue a run, or raise the ApiError a client should see (4xx, 503;
        503 also while the first-use fit runs, for a preset waiting for it)."""
        if (self.first_fit.running and req.method == "entropix"
                and (req.preset or DEFAULT_PRESET) in FITTED_PRESETS
                and (req.config is None or req.config.thresholds == "published")):
            raise fitting(self.first_fit.done, self.first_fit.total)
        try:
            return self.worker.submit(req)
        except QueueFull:
            raise busy(self.worker.queue_size) from None
        except ValueError as e:
            raise run_error(e, "prompt" if req.messages is None else "messages") from None


def dumps(data: Any) -> str:
    """JSON for SSE data lines: compact, and never NaN (which JSON.parse refuses)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)
