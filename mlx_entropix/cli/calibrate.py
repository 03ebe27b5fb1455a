"""`mlx_main.py calibrate`: fit thresholds to this model's own signals and store
them where the `entropix` preset (and the other fitted presets) pick them up."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from mlx_entropix.eval.cli import BUILTIN_DATASET
from mlx_entropix.eval.dataset import DatasetError, load_dataset, select_split, spread
from mlx_entropix.eval.errors import EvalError
from mlx_entropix.eval.prompt import build_messages
from mlx_entropix.methods import resolve_methods
from mlx_entropix.prompts import load_prompt_csv
from mlx_entropix.sampler import ConfigError, get_preset, save_config
from mlx_entropix.sampler.config import GATINGS
from mlx_entropix.sampler.fitted import cache_dir, write_fit

from .model import load

if TYPE_CHECKING:  # the model code loads when the command runs: --help stays fast
    from mlx_entropix.calibrate import FitResult, ShareTargets

QUANTILES = (5, 10, 25, 50, 75, 90, 95)


def summary_table(signals: dict[str, np.ndarray]) -> Table:
    table = Table(title=f"Signals over {len(signals['entropy'])} tokens (nats)")
    table.add_column("metric")
    for q in QUANTILES:
        table.add_column(f"p{q}", justify="right")
    for name, values in signals.items():
        table.add_row(name, *(f"{np.percentile(values, q):.3f}" for q in QUANTILES))
    return table


def fit_table(fits: dict[str, FitResult]) -> Table:
    table = Table(title="Fitted thresholds and the outcome shares they give on these tokens")
    table.add_column("gating")
    table.add_column("thresholds (nats, nats^2)")
    table.add_column("shares")
    for gating, fit in fits.items():
        table.add_row(gating, " ".join(f"{k}={v:.3f}" for k, v in fit.thresholds.items()),
                      " ".join(f"{k} {v:.0%}" for k, v in fit.shares.items()))
    return table


def parse_shares(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated fractions such as 0.3,0.5, got {text!r}") from None


def shown(path: Path) -> str:
    """A path as the notes of a fit show it: relative to here when it is below."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _chats(prompt_csv: Optional[Path], dataset: Path, split: str, n: Optional[int]
           ) -> tuple[list[list[dict[str, str]]], str]:
    if prompt_csv is not None:
        return [p.messages() for p in load_prompt_csv(prompt_csv)], str(prompt_csv)
    if not dataset.is_file():
        from mlx_entropix.calibrate import default_prompts

        return [p.messages() for p in default_prompts()], "the built-in prompts"
    items = spread(select_split(load_dataset(dataset), split, dataset), n)
    return [build_messages(it) for it in items], f"{shown(dataset)} ({split} split, {len(items)} items)"


def calibrate_command(
    model: Optional[str] = typer.Option(None, "--model", help="Model to calibrate (default: the embedded one)."),
    dataset: Path = typer.Option(BUILTIN_DATASET, "--dataset", help="Eval JSONL whose questions prompt the model."),
    split: str = typer.Option("dev", "--split", help="Split of --dataset to use (fit on dev, never on test)."),
    n: Optional[int] = typer.Option(None, "--n", min=1, help="Use only N questions, spread evenly through the split."),
    prompt_csv: Optional[Path] = typer.Option(None, "--prompt-csv", help="Prompt CSV instead of --dataset."),
    max_tokens: int = typer.Option(48, "--max-tokens", min=1, help="Tokens generated per prompt."),
    seed: int = typer.Option(0, "--seed"),
    argmax_share: float = typer.Option(0.5, "--argmax-share", help="Share of tokens the argmax rule should take."),
    high_vent_share: float = typer.Option(0.1, "--high-vent-share", help="Share of tokens with high varentropy (explore or resample)."),
    explore_share: float = typer.Option(0.5, "--explore-share", help="Of the high-varentropy tokens, the share that explores rather than resamples."),
    search: Optional[str] = typer.Option(None, "--search", help="Choose --argmax-share on the dev split among these, e.g. 0.4,0.6,0.8 (see --search-n)."),
    search_high_vent: Optional[str] = typer.Option(None, "--search-high-vent", help="With --search: also these high-varentropy shares, e.g. 0.05,0.15."),
    search_n: int = typer.Option(30, "--search-n", min=1, help="With --search: dev items each candidate answers."),
    search_out: Path = typer.Option(Path("out/fit-search"), "--search-out", help="With --search: the eval output of the candidates (resumable)."),
    compare: Optional[str] = typer.Option(None, "--compare", help="After the fit, these methods (eval --methods syntax) answer the --search-n dev items, e.g. greedy,entropix,no_branch."),
    fit_dir: Optional[Path] = typer.Option(None, "--fit-dir", help="Where the fit goes (default: the per-model cache, MLX_ENTROPIX_FITTED_DIR or ~/.cache/mlx-entropix/fitted; data/fitted ships it)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the fitted entropix preset as a config file (.toml or .json)."),
) -> None:
    """Fit thresholds so each rule takes a target share of this model's tokens;
    the entropix preset then uses them for this model automatically."""
    console = Console()
    try:
        from mlx_entropix.calibrate import ShareTargets, collect_signals, fit_thresholds

        targets = ShareTargets(argmax_share, high_vent_share, explore_share).check()
        grid = search_grid(targets, search, search_high_vent)
        specs = resolve_methods(compare, "--compare") if compare else ()
        chats, source = _chats(prompt_csv, dataset, split, n)
        lm = load(model)
        with console.status(f"generating greedy answers of up to {max_tokens} tokens to {source}"):
            signals = collect_signals(lm, chats, max_tokens, seed)
        console.print(summary_table(signals))
        notes = {"signals": f"greedy answers, up to {max_tokens} tokens, to {source}", "seed": seed}
        if grid:
            targets, notes = _search(console, lm, signals, grid, search_n, dataset, search_out,
                                     max_tokens, seed, notes)
        fits = {g: fit_thresholds(signals, targets, g) for g in GATINGS}
        notes.update({f"target_{k}": v for k, v in dataclasses.asdict(targets).items()})
        path = write_fit(fit_dir or cache_dir(), lm, {g: f.thresholds for g, f in fits.items()}, notes)
        if out is not None:
            save_config(get_preset("entropix").with_fitted(fits["quadrant"].thresholds), out)
        console.print(fit_table(fits))
        console.print(f"wrote {path}: the entropix, no_branch, no_think, cot_margin and frog presets now use "
                      f"these thresholds for {lm.name}" + (f"; and {out}" if out else ""))
        if specs:
            _compare(console, lm, list(specs), search_n, dataset, search_out, max_tokens, seed)
    except (ValueError, EvalError, DatasetError, ConfigError) as e:  # LoadError is a ValueError
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


def _compare(console: Console, lm, specs: list, search_n: int, dataset: Path, search_out: Path,
             max_tokens: int, seed: int) -> None:
    """The chosen fit's presets and the baselines on the same dev items as the search."""
    from mlx_entropix.fit_search import run_on_dev

    items = spread(select_split(load_dataset(dataset), "dev", dataset), search_n)
    out = search_out.with_name(search_out.name + "-compare")
    summary = run_on_dev(lm, specs, items, dataset, out, max_tokens, seed)
    table = Table(title=f"{len(items)} dev items, {max_tokens} tokens (report: {out / 'report.md'})")
    for col in ("method", "correct", "s/answer", "argmax share"):
        table.add_column(col)
    for label, s in summary["methods"].items():
        table.add_row(label, f"{s['correct']}/{s['n']}", f"{s['mean_time_s']:.2f}",
                      f"{s['outcome_shares'].get('argmax', 0.0):.0%}")
    console.print(table)


def search_grid(targets: ShareTargets, search: Optional[str], search_high_vent: Optional[str]
                ) -> list[ShareTargets]:
    """The candidates of --search (empty without it), checked before any work."""
    if search is None:
        return []
    argmax_grid = parse_shares(search, "--search")
    vent_grid = parse_shares(search_high_vent, "--search-high-vent") if search_high_vent else [targets.high_vent]
    from mlx_entropix.calibrate import ShareTargets

    return [ShareTargets(a, v, targets.explore).check() for a in argmax_grid for v in vent_grid]


def _search(console: Console, lm, signals, grid: list[ShareTargets], search_n: int, dataset: Path,
            search_out: Path, max_tokens: int, seed: int, notes: dict) -> tuple[ShareTargets, dict]:
    from mlx_entropix.fit_search import search_targets

    items = spread(select_split(load_dataset(dataset), "dev", dataset), search_n)
    best, results = search_targets(lm, signals, grid, items, dataset, search_out, max_tokens, seed)
    table = Table(title=f"Search on {len(items)} dev items, {max_tokens} tokens (report: {search_out / 'report.md'})")
    for col in ("candidate", "correct", "argmax share", "time / greedy", "within bounds"):
        table.add_column(col)
    for r in results:
        table.add_row(r.label, f"{r.correct}/{r.n}", f"{r.argmax_share:.0%}", f"{r.time_ratio:.2f}x",
                      "yes" if r.eligible else "no")
    console.print(table)
    console.print(f"chosen: {best.label}" + ("" if best.eligible else " (no candidate kept the bounds)"))
    notes = {**notes, "search": ", ".join(f"{r.label} {r.correct}/{r.n} argmax {r.argmax_share:.2f} "
                                          f"time {r.time_ratio:.2f}x" for r in results),
             "search_items": f"{len(items)} dev items spread through {shown(dataset)}", "chosen": best.label}
    return best.targets, notes
