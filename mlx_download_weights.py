"""Download a model from the Hugging Face Hub for `mlx_main.py --model`,
or list the models already on this machine (`--list`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from mlx_entropix.download import (
    DEFAULT_MODEL_ID,
    WEIGHTS_DIR,
    DownloadError,
    default_out_dir,
    download,
    list_local_models,
    run_command,
)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    model_id: str = typer.Option(DEFAULT_MODEL_ID, "--model-id", help="Hugging Face repo id, e.g. mlx-community/Llama-3.2-1B-Instruct-4bit."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where to put the files (default: <weights-dir>/<name after the slash>)."),
    list_models: bool = typer.Option(False, "--list", help="Show the models already downloaded and whether mlx_main.py can load them."),
    weights_dir: Path = typer.Option(WEIGHTS_DIR, "--weights-dir", help="The folder of downloaded models (--list looks there and in the Hugging Face cache)."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors."),
) -> None:
    """Download only what loading needs (config, safetensors, tokenizer) from a Hub repo."""
    console = Console()
    try:
        if list_models:
            _print_models(console, weights_dir)
            return
        folder = download(model_id, out_dir or default_out_dir(model_id, weights_dir))
    except DownloadError as e:
        if debug:
            raise
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"Downloaded {model_id} into {folder}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"Run it with:\n  {run_command(folder)}", markup=False, highlight=False, soft_wrap=True)


def _print_models(console: Console, weights_dir: Path) -> None:
    models = list_local_models(weights_dir)
    if not models:
        console.print(f"No models in {weights_dir}/ nor in the Hugging Face cache. Download one with `uv run mlx_download_weights.py`.",
                      markup=False, soft_wrap=True)
        return
    for m in models:
        status = "[green]usable[/green]" if m.usable else "[yellow]not usable:[/yellow] " + escape("; ".join(m.problems))
        console.print(f"{escape(m.ref)}  [dim]({escape(m.source)})[/dim]  {status}", highlight=False, soft_wrap=True)
    usable = [m for m in models if m.usable]
    if usable:
        console.print(f"Run one with:\n  {run_command(usable[0].ref)}", markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    app()
