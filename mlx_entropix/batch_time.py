"""Where a BatchGenerator's time goes: prompt prefill, and decode steps by
their width (rows).

Why: batched decoding pays off only while the steps are wide. A run's
throughput against one row at a time is set by three things that this
account separates: the prefill (compute-bound on a CPU, so it costs the same
seconds at any batch size), the steps at full width, and the narrower steps
while the last rows drain. benchmarks/eval_batching.py reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Width:
    """Decode steps of one width: how many, and their seconds in all."""

    steps: int = 0
    seconds: float = 0.0


@dataclass
class BatchTime:
    """A generator's prefill passes and decode steps, timed on the host around
    work that ends in a synchronisation (so the seconds are the work's own)."""

    prefill_passes: int = 0
    prefill_tokens: int = 0  # prompt tokens prefilled, padding left out
    prefill_seconds: float = 0.0
    widths: dict[int, Width] = field(default_factory=dict)  # rows -> its steps

    def add_prefill(self, tokens: int, seconds: float) -> None:
        self.prefill_passes += 1
        self.prefill_tokens += tokens
        self.prefill_seconds += seconds

    def add_step(self, rows: int, seconds: float) -> None:
        width = self.widths.setdefault(rows, Width())
        width.steps += 1
        width.seconds += seconds

    @property
    def steps(self) -> int:
        return sum(w.steps for w in self.widths.values())

    @property
    def step_seconds(self) -> float:
        return sum(w.seconds for w in self.widths.values())

    @property
    def row_steps(self) -> int:
        """Rows advanced in all: each a token, or a row's end of sequence (a branch point's rollouts count too)."""
        return sum(rows * w.steps for rows, w in self.widths.items())

    def to_dict(self) -> dict:
        return {"prefill": {"passes": self.prefill_passes, "tokens": self.prefill_tokens,
                            "seconds": self.prefill_seconds},
                "steps": self.steps, "step_seconds": self.step_seconds, "row_steps": self.row_steps,
                "mean_rows": self.row_steps / self.steps if self.steps else 0.0,
                "by_width": {str(rows): {"steps": w.steps, "seconds": w.seconds}
                             for rows, w in sorted(self.widths.items())}}
