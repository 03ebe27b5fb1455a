"""Per-model thresholds: run a prompt set, collect the signals of every generated
token, and write a sampler config whose thresholds are chosen percentiles.

The published thresholds were tuned on one model with buggy (unmasked)
metrics; percentiles of the model's own entropy and varentropy give quadrants
that mean the same thing for any model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from .cli.prompts import BUILTIN_PROMPTS, DEFAULT_CSV, Prompt, load_prompt_csv
from .generate import GenerationOptions
from .load import LoadedModel, load
from .runner import RunRequest, run
from .sampler import SamplerConfig, get_preset, save_config
from .trace import METRIC_NAMES


@dataclass(frozen=True)
class Percentiles:
    """Which percentile of H (and V) becomes which threshold."""

    low: float = 10.0
    med: float = 50.0
    high: float = 90.0

    def check(self) -> "Percentiles":
        if not 0 <= self.low <= self.med <= self.high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low <= med <= high <= 100, "
                             f"got {self.low}, {self.med}, {self.high}")
        return self


def collect_signals(lm: LoadedModel, prompts: list[Prompt], max_tokens: int, seed: int,
                    method: str = "normal") -> dict[str, np.ndarray]:
    """Every metric of every generated token over the prompt set (plain sampling
    by default, so the distribution is the model's own, not the rules')."""
    columns: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for i, prompt in enumerate(prompts):
        req = RunRequest(messages=prompt.messages(), method=method,
                         options=GenerationOptions(max_tokens=max_tokens, seed=seed + i))
        for token in run(lm, req).tokens:
            for name in METRIC_NAMES:
                columns[name].append(getattr(token.metrics, name))
    return {name: np.array(values) for name, values in columns.items()}


def calibrated_config(signals: dict[str, np.ndarray], base: SamplerConfig,
                      pct: Percentiles) -> SamplerConfig:
    h, v = signals["entropy"], signals["varentropy"]
    if h.size == 0:
        raise ValueError("no tokens were generated: use more prompts or a larger --max-tokens")
    return dataclasses.replace(
        base,
        low_ent=float(np.percentile(h, pct.low)),
        med_ent=float(np.percentile(h, pct.med)),
        high_ent=float(np.percentile(h, pct.high)),
        low_vent=float(np.percentile(v, pct.low)),
        high_vent=float(np.percentile(v, pct.high)),
    )


def summary_table(signals: dict[str, np.ndarray]) -> Table:
    table = Table(title=f"Signals over {len(signals['entropy'])} tokens (nats)")
    table.add_column("metric")
    for q in (5, 10, 25, 50, 75, 90, 95):
        table.add_column(f"p{q}", justify="right")
    for name, values in signals.items():
        table.add_row(name, *(f"{np.percentile(values, q):.3f}" for q in (5, 10, 25, 50, 75, 90, 95)))
    return table


def calibrate_command(
    model: Optional[str] = typer.Option(None, "--model", help="Model to calibrate (default: the embedded one)."),
    prompt_csv: Optional[Path] = typer.Option(None, "--prompt-csv", help="Prompt CSV (default: data/prompts.csv plus the built-in prompts)."),
    max_tokens: int = typer.Option(64, "--max-tokens", min=1, help="Tokens generated per prompt."),
    seed: int = typer.Option(0, "--seed"),
    low: float = typer.Option(10.0, "--low-pct", help="Percentile that becomes low_ent and low_vent."),
    med: float = typer.Option(50.0, "--med-pct", help="Percentile that becomes med_ent."),
    high: float = typer.Option(90.0, "--high-pct", help="Percentile that becomes high_ent and high_vent."),
    preset: str = typer.Option("entropix", "--preset", help="Preset the other fields come from."),
    out: Path = typer.Option(Path("calibrated.toml"), "--out", help="Where to write the config (.toml or .json)."),
) -> None:
    """Write a sampler config whose thresholds are percentiles of this model's signals."""
    pct = Percentiles(low, med, high).check()
    base = get_preset(preset)
    prompts = load_prompt_csv(prompt_csv) if prompt_csv else list(BUILTIN_PROMPTS) + (
        load_prompt_csv(DEFAULT_CSV) if DEFAULT_CSV.is_file() else [])
    lm = load(model)
    console = Console()
    with console.status(f"generating {len(prompts)} answers of up to {max_tokens} tokens"):
        signals = collect_signals(lm, prompts, max_tokens, seed)
    cfg = calibrated_config(signals, base, pct)
    save_config(cfg, out)
    console.print(summary_table(signals))
    console.print(f"thresholds (nats): low_ent={cfg.low_ent:.3f} med_ent={cfg.med_ent:.3f} "
                  f"high_ent={cfg.high_ent:.3f} low_vent={cfg.low_vent:.3f} high_vent={cfg.high_vent:.3f}")
    console.print(f"wrote {out}; use it with `uv run mlx_main.py --config {out} --input ...`")
