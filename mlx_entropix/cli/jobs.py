"""The runs one invocation asks for (prompts x methods), the request each one
sends through the runner, and the names of the files each one writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlx_entropix.methods import MethodSpec
from mlx_entropix.plots import plot_trace
from mlx_entropix.requests import GenerationOptions, NormalParams, RunRequest
from mlx_entropix.trace import Trace

from mlx_entropix.prompts import Prompt, slug


@dataclass(frozen=True)
class Settings:
    """Decoding settings shared by every run of an invocation."""

    max_tokens: int = 4096
    seed: int = 0
    system_prompt: str | None = None
    normal: NormalParams = field(default_factory=NormalParams)
    layers: bool = False  # per-layer attention arrays in the traces (--layers)


@dataclass(frozen=True)
class Job:
    """One run. label is empty for a lone run, else `<prompt name>`,
    `<method label>` or `<prompt name>.<method label>`: it names the run in
    tables and goes into its output file names."""

    prompt: Prompt
    method: MethodSpec
    label: str = ""

    def request(self, settings: Settings) -> RunRequest:
        return self.method.request(
            self.prompt.messages(settings.system_prompt),
            GenerationOptions(max_tokens=settings.max_tokens, seed=settings.seed, layers=settings.layers),
            settings.normal,
        )


def plan_jobs(prompts: list[Prompt], methods: tuple[MethodSpec, ...], batch: bool) -> list[Job]:
    """Every prompt through every method, in that order."""
    jobs = []
    for prompt in prompts:
        for method in methods:
            parts = ([slug(prompt.name)] if batch else []) + ([method.label] if len(methods) > 1 else [])
            jobs.append(Job(prompt, method, ".".join(parts)))
    return jobs


def artifact_path(path: Path, label: str) -> Path:
    """`out.json` for a lone run, `out.<label>.json` for one run of several."""
    return path.with_name(f"{path.stem}.{label}{path.suffix}") if label else path


def save_artifacts(trace: Trace, label: str, trace_path: Path | None, plot_path: Path | None
                   ) -> list[Path]:
    """Write the run's trace and plot files, if asked for; returns the paths written."""
    written = []
    if trace_path is not None:
        path = artifact_path(trace_path, label)
        trace.save(path)
        written.append(path)
    if plot_path is not None:
        written.append(plot_trace(trace, artifact_path(plot_path, label)))
    return written
