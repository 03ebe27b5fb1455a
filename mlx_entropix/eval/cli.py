"""`mlx_main.py eval`: registered by the main CLI as
`app.command("eval")(eval_command)`."""

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..batch_time import describe
from ..methods import MethodError
from ..requests import DEFAULT_MAX_BATCH
from ..sampler import ConfigError
from .dataset import EvalItem, file_sha256, load_dataset, select_split, spread
from .distributed import Group, init_distributed
from .errors import EvalError
from .multitrace import EvalMethod, known_multitrace, resolve_eval_methods
from .runner import run_eval
from .sealed import check_plan_committed
from .store import RunSettings, check_settings

BUILTIN_DATASET = Path(__file__).resolve().parents[2] / "data" / "eval" / "basics.jsonl"


def select_items(items: list[EvalItem], n: Optional[int], path: Path) -> list[EvalItem]:
    """n items spread evenly through the selection (all when n is None): the
    data sets are ordered by category, so the first n would be one kind."""
    if n is not None and n > len(items):
        raise EvalError(f"--n {n} but {path} has only {len(items)} items")
    return spread(items, n)


def _print_summary(summary: dict, out: Path, account: dict) -> None:
    console = Console()
    table = Table(title="strict accuracy (lenient beside it, labelled)")
    for col in ("method", "accuracy [95% CI]", "format failures", "lenient", "mean tokens", "s/question"):
        table.add_column(col)
    for m, s in summary["methods"].items():
        lo, hi = s["ci95"]
        table.add_row(
            m,
            f"{s['accuracy']:.1%} [{lo:.1%}, {hi:.1%}]",
            f"{s['no_answer']}/{s['n']}",
            f"{s['lenient_accuracy']:.1%}",
            f"{s['mean_tokens']:.1f}",
            f"{s['mean_time_s']:.2f}",
        )
    console.print(table)
    for p in summary["pairs"]:
        verdict = "significant" if p["significant"] else "not significant"
        console.print(
            f"{p['a']} - {p['b']}: {p['diff']:+.1%} "
            f"[{p['ci95'][0]:+.1%}, {p['ci95'][1]:+.1%}], McNemar p={p['mcnemar_p']:.3g} ({verdict})"
        )
    for p in summary["vs_self_consistency"]:
        tokens = "matched tokens" if p["matched"] else "SC had fewer tokens"
        console.print(f"{p['a']} vs {p['b']} ({tokens}): {p['diff']:+.1%}, McNemar p={p['mcnemar_p']:.3g}")
    console.print(f"decoding (this process): {describe(account)}")
    console.print(f"report: {out / 'report.md'}")


def eval_command(
    dataset: Path = typer.Option(
        BUILTIN_DATASET,
        "--dataset",
        help="JSONL, one item per line: question, answer (GSM8K's '... #### N' too), optional choices, "
        "system, id, category, kind, split.",
    ),
    methods: str = typer.Option(
        "entropix,greedy,normal",
        "--methods",
        help="Comma-separated methods to compare: normal, any sampler preset (entropix, greedy, "
        "no_branch, ...), a .toml/.json sampler config file (labelled by its file stem), or a "
        "multi-trace method with its budget: " + known_multitrace() + " (parameters joined by ':').",
    ),
    split: str = typer.Option(
        "all", "--split", help="dev, test or all: the items of one split (the dataset's 'split' field; "
        "a file without one, like GSM8K's, by line number: every 5th line is dev)."
    ),
    n: Optional[int] = typer.Option(
        None, "--n", min=1, help="Evaluate only N items of the split, spread evenly through it."
    ),
    seed: int = typer.Option(0, "--seed", help="Run seed; each item's seed derives from it and its index."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Token budget per answer."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output directory (default: out/eval-DATASET_NAME)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    distributed: bool = typer.Option(
        False, "--distributed", help="Split the items over the processes of `mlx.launch --backend ring`."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="Model to evaluate (default: the built-in one)."
    ),
    sealed: bool = typer.Option(
        False, "--sealed", help="Preregistered run: needs --out/plan.md committed in git; shows and stores "
        "no score until the last item is done."
    ),
    batch: int = typer.Option(DEFAULT_MAX_BATCH, "--batch", min=1,
                              help="Decode up to N traces together (batched decoding; each trace is the "
                              "same as alone), from up to N items in flight."),
    traces: bool = typer.Option(True, "--traces/--no-traces", help="Write every trace's JSON under traces/."),
) -> None:
    """Compare sampling methods on a question set: accuracy with CIs, paired tests, a report."""
    try:
        specs = resolve_eval_methods(methods)
        items = select_items(select_split(load_dataset(dataset), split, dataset), n, dataset)
        out_dir = out or Path("out") / f"eval-{dataset.stem}"
        group = init_distributed() if distributed else Group()
        if not resume:  # a clash with an earlier run is refused before the model loads
            check_settings(out_dir, run_settings(dataset, specs, items, seed, max_tokens, model, group, split,
                                                 sealed), resume)
        if sealed:
            check_plan_committed(out_dir)
        from .model import make_decoder

        # Presets resolved once against the loaded model: settings.json records what runs.
        decoder, specs = make_decoder(model, specs, batch)
        settings = run_settings(dataset, specs, items, seed, max_tokens, model, group, split, sealed)
        summary = run_eval(
            items,
            settings,
            specs,
            decoder,
            out_dir,
            resume=resume,
            group=group,
            command=shlex.join(sys.argv),
            save_traces=traces,
        )
    except (EvalError, MethodError, ConfigError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if summary is not None:
        _print_summary(summary, out_dir, decoder.batching())


def run_settings(dataset: Path, specs: tuple[EvalMethod, ...], items: list[EvalItem], seed: int,
                 max_tokens: int, model: Optional[str], group: Group, split: str, sealed: bool) -> RunSettings:
    """What a result means: resume must match it (benchmarks/eval_batching.py builds its runs' too)."""
    return RunSettings(
        dataset=str(dataset),
        dataset_sha256=file_sha256(dataset),
        methods=tuple(s.label for s in specs),
        n=len(items),
        seed=seed,
        max_tokens=max_tokens,
        model=model,
        world_size=group.size,
        split=split,
        configs={s.label: s.describe() for s in specs},
        sealed=sealed,
    )
