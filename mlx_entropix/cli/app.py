"""The `mlx_main.py` command line: generation (the default command), `plot`,
`eval` and `calibrate`.

Every error reaches the user as one `error: ...` line on stderr with a
non-zero exit code; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from mlx_entropix.eval.cli import eval_command
from mlx_entropix.methods import NORMAL, MethodSpec, for_model, resolve_methods
from mlx_entropix.prompts import BUILTIN_PROMPTS, DEFAULT_CSV, Prompt, load_prompt_csv
from mlx_entropix.requests import DEFAULT_MAX_BATCH, SEED_LIMIT, NormalParams
from mlx_entropix.sampler.config import DEFAULT_PRESET, PRESETS, get_preset, load_config
from mlx_entropix.text import checked_text, decoded_text
from mlx_entropix.trace import Trace, load_trace

from .calibrate import calibrate_command
from .convert import convert_command
from .model import fit_on_first_use, load

if TYPE_CHECKING:  # the model, plots and generation load on first use: --help stays fast
    from rich.console import Console

    from mlx_entropix.load import LoadedModel

    from .jobs import Job, Settings

PLOT_SUFFIXES = (".png", ".html")
DEFAULT_COMPARE = "entropix,normal"

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("eval")(eval_command)
app.command("calibrate")(calibrate_command)
app.command("convert")(convert_command)


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename and e.strerror:
        return f"{e.strerror}: {e.filename}"
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


@contextmanager
def reported_errors(debug: bool) -> Iterator[None]:
    """Turn the errors of bad input (all ValueErrors: LoadError, ConfigError,
    GenerationError, TraceError...) and of files (OSError) into one line."""
    try:
        yield
    except (ValueError, OSError) as e:
        if debug:
            raise
        typer.echo(f"error: {_one_line(e)}", err=True)
        raise typer.Exit(1) from None


def read_input(text: str) -> Prompt:
    """The `--input` prompt; `-` reads it from stdin. Either must be UTF-8 text."""
    if text == "-":
        text = decoded_text(sys.stdin.buffer.read(), "the text on stdin")
    checked_text(text, "--input")
    if not text.strip():
        raise ValueError("the prompt is empty: give --input TEXT (or pipe text with --input -)")
    return Prompt("input", text)


def choose_prompts(input_text: str | None, builtin: bool, csv_path: Path | None
                   ) -> tuple[list[Prompt], bool]:
    """The prompts to run and whether they are a batch."""
    given = [name for name, v in (("--input", input_text is not None), ("--prompts", builtin),
                                  ("--prompt_csv", csv_path is not None)) if v]
    if not given:
        raise ValueError("nothing to generate: give --input TEXT, --prompts or --prompt_csv (see --help)")
    if len(given) > 1:
        raise ValueError(f"give only one prompt source, not {' and '.join(given)}")
    if input_text is not None:
        return [read_input(input_text)], False
    if builtin:
        return list(BUILTIN_PROMPTS), True
    return load_prompt_csv(csv_path), True


def choose_methods(normal: bool, compare: str | None, preset: str | None, config: Path | None
                   ) -> tuple[MethodSpec, ...]:
    """The methods to run: --compare's list, else one of --normal, --preset,
    --config or the entropix preset."""
    if config is not None and preset is not None:
        raise ValueError("give --preset or --config, not both")
    if compare is not None:
        if normal:
            raise ValueError("--compare already runs the methods it names: drop --normal "
                             "(name normal in its list)")
        if preset is not None or config is not None:
            raise ValueError("--compare names its methods itself: drop --preset/--config and list the "
                             "presets or config files, e.g. --compare greedy,no_branch,my.toml")
        return resolve_methods(compare, "--compare")
    if normal:
        if preset is not None or config is not None:
            raise ValueError("--preset and --config set the entropix sampler: drop them with --normal")
        return (MethodSpec(NORMAL, NORMAL),)
    if config is not None:
        return (MethodSpec(config.stem, str(config), load_config(config)),)
    name = preset or DEFAULT_PRESET
    return (MethodSpec(name, "preset", get_preset(name)),)


def normal_params(methods: tuple[MethodSpec, ...], temp: float | None, top_p: float | None,
                  min_p: float | None, top_k: int | None) -> NormalParams:
    """The baseline's parameters; the flags only make sense when it runs."""
    given = {k: v for k, v in (("temperature", temp), ("top_p", top_p), ("min_p", min_p),
                               ("top_k", top_k)) if v is not None}
    if given and not any(m.is_normal for m in methods):
        raise ValueError("--temp, --top-p, --min-p and --top-k set the normal baseline: "
                         "add --normal or --compare")
    try:
        return NormalParams(**given).check()
    except ValueError as e:
        raise ValueError(f"bad --temp/--top-p/--min-p/--top-k value: {e}") from None


def check_output(path: Path | None, flag: str, suffixes: tuple[str, ...] = ()) -> None:
    """Fail before generating, not after, on an output path that cannot be written."""
    if path is None:
        return
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} {path}: the file name must end in {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise ValueError(f"{flag} {path}: the folder {path.parent} does not exist")


@app.callback(invoke_without_command=True)
def generate(
    ctx: typer.Context,
    input_text: Optional[str] = typer.Option(
        None, "--input", help="The prompt (a user message); - reads it from stdin."),
    prompts: bool = typer.Option(
        False, "--prompts", help="Run the built-in prompt set: 9.9 vs 9.11, a fact, a story, a puzzle, code."),
    prompt_csv: Optional[Path] = typer.Option(
        None, "--prompt_csv",
        help=f"Run the prompts of a CSV file with the header name,prompt and optionally system,expected. "
             f"Given without a file: {DEFAULT_CSV.relative_to(DEFAULT_CSV.parents[1])}."),
    model: Optional[str] = typer.Option(
        None, "--model",
        help="A model folder, a .gguf file or a Hugging Face repo id already downloaded; "
             "default: the embedded SmolLM2-135M-Instruct."),
    max_tokens: int = typer.Option(
        4096, "--max-tokens", help="Most tokens to generate per run (at most the model's context)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same run."),
    system_prompt: Optional[str] = typer.Option(
        None, "--system-prompt", help="System message (a CSV's system column wins over it)."),
    preset: Optional[str] = typer.Option(
        None, "--preset", help=f"Entropix sampler preset: {', '.join(PRESETS)}; default {DEFAULT_PRESET}."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Entropix sampler config file, .json or .toml (missing fields keep their defaults)."),
    normal: bool = typer.Option(
        False, "--normal", help="Plain sampling with mlx-lm's sampler (the baseline) instead of entropix."),
    temp: Optional[float] = typer.Option(None, "--temp", help="Baseline temperature; default 0.666."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Baseline top-p; default 0.9."),
    min_p: Optional[float] = typer.Option(None, "--min-p", help="Baseline min-p; default 0.03."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Baseline top-k, 0 for off; default 0."),
    compare: Optional[str] = typer.Option(
        None, "--compare",
        help=f"Run several methods on the same prompt and seed and compare them: a comma-separated list "
             f"of normal, presets and .toml/.json sampler configs. Given without a list: {DEFAULT_COMPARE}."),
    branch_details: bool = typer.Option(
        False, "--branch-details",
        help="Below the answer, list each branch point's kept and dropped continuations with their scores."),
    no_color: bool = typer.Option(
        False, "--no-color", help="No colours (they are off anyway when stdout is not a terminal)."),
    trace: Optional[Path] = typer.Option(
        None, "--trace",
        help="Save the run as a JSON trace. With several runs, one file each: FILE.RUN.json, RUN being "
             "the method (--compare), the prompt name (prompt sets) or both as NAME.METHOD."),
    layers: bool = typer.Option(
        False, "--layers",
        help="Record each token's attention entropy per layer and head in the --trace file "
             "(the web UI's layers x tokens heatmap draws them)."),
    plot: Optional[Path] = typer.Option(
        None, "--plot",
        help="Save the entropy plots, FILE.png or FILE.html (interactive); several runs are named as for --trace."),
    weights: str = typer.Option(
        "auto", "--weights",
        help="auto (dense float32 on a Linux CPU with the optimised BLAS when it fits in "
             "MLX_ENTROPIX_DENSE_RAM_SHARE of RAM, default 0.25; else quantized), dense or quantized."),
    max_batch: int = typer.Option(
        DEFAULT_MAX_BATCH, "--max-batch",
        help="With --prompts/--prompt_csv: how many runs share each decode step (each run's "
             "tokens are those it gets alone; 1 = one at a time)."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of errors."),
) -> None:
    """Generate with entropix sampling (the default command), each token streamed in the
    colour of the rule that chose it, with per-token metrics. Subcommands: plot, eval, calibrate."""
    if ctx.invoked_subcommand is not None:
        return
    with reported_errors(debug):
        prompt_list, batch = choose_prompts(input_text, prompts, prompt_csv)
        methods = choose_methods(normal, compare, preset, config)
        if max_tokens < 1:
            raise ValueError(f"--max-tokens must be at least 1, got {max_tokens}")
        if max_batch < 1:
            raise ValueError(f"--max-batch must be at least 1, got {max_batch}")
        if not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"--seed must be in [0, 2**64), got {seed}")
        if system_prompt is not None:
            checked_text(system_prompt, "--system-prompt")
        params = normal_params(methods, temp, top_p, min_p, top_k)
        check_output(trace, "--trace")
        check_output(plot, "--plot", PLOT_SUFFIXES)
        if layers and trace is None:
            raise ValueError("--layers records per-layer arrays into the trace: add --trace FILE.json")

        from .jobs import Settings, plan_jobs
        from .render import make_console, print_legend

        out = make_console(color=not no_color and sys.stdout.isatty(), file=sys.stdout)
        lm = load(model, weights)
        fit_on_first_use(lm, [m.label for m in methods if m.source == "preset"])  # before resolving
        methods = for_model(methods, lm)  # what runs is what the tables and traces record
        settings = Settings(max_tokens=min(max_tokens, lm.context_length), seed=seed,
                            system_prompt=system_prompt, normal=params, layers=layers)

        if out.color_system:
            print_legend(out)
        run_jobs(lm, plan_jobs(prompt_list, methods, batch), settings, out, batch, trace, plot,
                 branch_details, max_batch)


def run_jobs(lm: LoadedModel, jobs: list[Job], settings: Settings, out: Console, batch: bool,
             trace: Path | None, plot: Path | None, branch_details: bool = False,
             max_batch: int = DEFAULT_MAX_BATCH) -> None:
    """Stream lone and compared runs; run batches under a progress bar. Each
    run's files are written as soon as it ends, so an interrupted batch keeps them."""

    from .batch import batch_table, run_batch
    from .compare import compare_table
    from .jobs import save_artifacts
    from .live import stream_job
    from .render import make_console

    def after(job: Job, run_trace: Trace) -> None:
        for path in save_artifacts(run_trace, job.label, trace, plot):
            out.print(f"wrote {path}")

    if batch:
        results = run_batch(lm, jobs, settings, out, make_console(color=False, file=sys.stderr), after,
                            branch_details, max_batch)
        out.print(batch_table(results))
        return
    results = []
    for job in jobs:
        run_trace = stream_job(lm, job, settings, out, branch_details)
        after(job, run_trace)
        results.append((job, run_trace))
    if len(results) > 1:
        out.print(compare_table(results))


@app.command("plot")
def plot_command(
    trace_file: Path = typer.Argument(..., help="A trace saved with --trace (or by the web UI)."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="FILE.png or FILE.html; default: the trace's name with .png."),
    max_batch: int = typer.Option(
        DEFAULT_MAX_BATCH, "--max-batch",
        help="With --prompts/--prompt_csv: how many runs share each decode step (each run's "
             "tokens are those it gets alone; 1 = one at a time)."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of errors."),
) -> None:
    """Render the entropy plots of a saved trace."""
    with reported_errors(debug):
        saved = load_trace(trace_file)
        target = out or trace_file.with_suffix(".png")
        check_output(target, "--out", PLOT_SUFFIXES)
        from mlx_entropix.plots import plot_trace

        path = plot_trace(saved, target)
    typer.echo(f"wrote {path}")


def with_optional_values(args: list[str]) -> list[str]:
    """Give a bare `--prompt_csv` its default file and a bare `--compare` its
    default methods (typer has no options whose value is optional)."""
    defaults = {"--prompt_csv": str(DEFAULT_CSV), "--compare": DEFAULT_COMPARE}
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg in defaults and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(defaults.pop(arg))
    return out


def main(argv: list[str] | None = None) -> None:
    """The entry point: usage errors, too, become one `error:` line."""
    args = with_optional_values(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="mlx_main.py", standalone_mode=False)
    except typer.TyperException as e:
        typer.echo(f"error: {e.format_message()} (see --help)", err=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except (ValueError, OSError) as e:  # from subcommands without their own handling
        if "--debug" in args:
            raise
        typer.echo(f"error: {_one_line(e)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
