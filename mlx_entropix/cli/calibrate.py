"""`mlx_main.py calibrate`: thresholds from this model's own signals, written
as a sampler config file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from mlx_entropix.calibrate import Percentiles, calibrated_config, collect_signals, default_prompts
from mlx_entropix.load import load
from mlx_entropix.prompts import load_prompt_csv
from mlx_entropix.sampler import get_preset, save_config


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
    prompts = load_prompt_csv(prompt_csv) if prompt_csv else default_prompts()
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
