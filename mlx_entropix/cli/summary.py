"""What a finished run adds up to, as text: mlx-lm's closing lines, the outcome
count and the summary row shared by the comparison and batch tables."""

from __future__ import annotations

from mlx_entropix.trace import OUTCOMES, Stats, Trace

# Columns of a run's summary, in table order.
SUMMARY_FIELDS = ("tokens", "tok/s", "time (s)", "finish", "outcomes", "mean entropy (nats)")


def closing_lines(stats: Stats) -> list[str]:
    """The three lines mlx-lm prints after generating, in its exact format."""
    return [
        f"Prompt: {stats.prompt_tokens} tokens, {stats.prompt_tps:.3f} tokens-per-sec",
        f"Generation: {stats.generation_tokens} tokens, {stats.generation_tps:.3f} tokens-per-sec",
        f"Peak memory: {stats.peak_memory_gb:.3f} GB",
    ]


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
        "time (s)": f"{s.total_time_s:.1f}",
        "finish": s.finish_reason,
        "outcomes": outcome_counts_text(s.outcome_counts),
        "mean entropy (nats)": f"{s.mean_entropy:.3f}",
    }
