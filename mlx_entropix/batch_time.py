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

    def to_dict(self) -> dict:
        """The account as JSON. Safe to call from another thread while steps
        run (the server's /health): it reads one copy of the widths."""
        widths = {rows: (w.steps, w.seconds) for rows, w in dict(self.widths).items()}
        steps = sum(n for n, _ in widths.values())
        row_steps = sum(rows * n for rows, (n, _) in widths.items())  # each a token or an end of sequence
        return {"prefill": {"passes": self.prefill_passes, "tokens": self.prefill_tokens,
                            "seconds": self.prefill_seconds},
                "steps": steps, "step_seconds": sum(t for _, t in widths.values()), "row_steps": row_steps,
                "mean_rows": row_steps / steps if steps else 0.0,
                "by_width": {str(rows): {"steps": n, "seconds": t} for rows, (n, t) in sorted(widths.items())}}


def describe(account: dict) -> str:
    """An account (to_dict()) in one line, to judge a batch size by: few rows per step means it buys little."""
    p = account["prefill"]
    return (f"{account['steps']} steps of {account['mean_rows']:.2f} rows on average, {account['step_seconds']:.1f} s; "
            f"prefill {p['seconds']:.1f} s ({p['tokens']} prompt tokens)")
