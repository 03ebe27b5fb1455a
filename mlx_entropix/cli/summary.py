"""What a finished run adds up to, as text: mlx-lm's closing lines, the outcome
count and the summary row shared by the comparison and batch tables."""

from __future__ import annotations

from mlx_entropix.trace import OUTCOMES, Stats, Trace

# Columns of a run's summary, in table order (tables say that H is in nats).
SUMMARY_FIELDS = ("tokens", "tok/s", "secs", "finish", "mean H", "outcomes")


def closing_lines(stats: Stats) -> list[str]:
    """The three lines mlx-lm prints after generating, in its exact format."""
    return [
        f"Prompt: {stats.prompt_tokens} tokens, {stats.prompt_tps:.3f} tokens-per-sec",
        f"Generation: {stats.generation_tokens} tokens, {stats.generation_tps:.3f} tokens-per-sec",
        f"Peak memory: {stats.peak_memory_gb:.3f} GB",
    ]


def run_on_line(model: dict) -> str:
    """Where the run ran: device, weight mode and the BLAS behind CPU matmuls."""
    return (f"Ran on: {model.get('backend', '?')}, {model.get('weights', '?')} weights "
            f"({model.get('weights_reason', '?')}), BLAS {model.get('blas', '?')}")


def outcome_counts_text(counts: dict[str, int]) -> str:
    """`argmax 12, adaptive 5` in the legend's order; `none` for an empty run."""
    parts = [f"{o} {counts[o]}" for o in OUTCOMES if counts.get(o)]
    return ", ".join(parts) or "none"


def summary_row(trace: Trace) -> dict[str, str]:
    """One run's SUMMARY_FIELDS as display strings."""
    s = trace.stats
    if s is None:
        raise ValueError("the run has no stats: summarise a finished trace")
    return {
        "tokens": str(s.generation_tokens),
        "tok/s": f"{s.generation_tps:.2f}",
        "secs": f"{s.total_time_s:.1f}",
        "finish": s.finish_reason,
        "mean H": f"{s.mean_entropy:.3f}",
        "outcomes": outcome_counts_text(s.outcome_counts),
    }
