"""What every route needs: the model, the worker, the server's defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..load import LoadedModel
from ..runner import RunRequest
from .errors import busy, run_error
from .worker import Generation, QueueFull, Worker


@dataclass
class ServerContext:
    lm: LoadedModel
    worker: Worker
    default_method: str = "entropix"

    def submit(self, req: RunRequest) -> Generation:
        """Queue a run, or raise the ApiError a client should see (4xx, 503)."""
        try:
            return self.worker.submit(req)
        except QueueFull:
            raise busy(self.worker.queue_size) from None
        except ValueError as e:
            raise run_error(e, "prompt" if req.messages is None else "messages") from None


def dumps(data: Any) -> str:
    """JSON for SSE data lines: compact, and never NaN (which JSON.parse refuses)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)
