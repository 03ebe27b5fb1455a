"""Decoding methods named on the command line: `normal` (the mlx-lm baseline),
any sampler preset (`entropix`, `greedy`, `no_branch`, ... whatever
`PRESETS` holds when the command runs) or a `.toml`/`.json` sampler config
file, labelled by its file stem. The eval's `--methods` and the CLI's
`--compare` both take a comma-separated list of them, so any config can be
measured against any other under one label that names its reports and files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .requests import GenerationOptions, NormalParams, RunRequest
from .sampler import PRESETS, SamplerConfig, get_preset, load_config
from .sampler.fitted import ModelLike, resolve_preset

NORMAL = "normal"
CONFIG_SUFFIXES = (".toml", ".json")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class MethodError(ValueError):
    """A method list that cannot be run; the message says what to write instead."""


@dataclass(frozen=True)
class MethodSpec:
    """One method: its label, and the sampler config it runs (None for `normal`,
    which is mlx-lm's sampler under NormalParams)."""

    label: str
    source: str  # "normal", "preset" or the config file's path
    config: SamplerConfig | None = None

    @property
    def is_normal(self) -> bool:
        return self.config is None

    def describe(self) -> dict[str, Any]:
        """What the method runs, for a run's settings: a changed config is a changed method."""
        return {"source": self.source, "config": None if self.config is None else self.config.to_dict()}

    def for_model(self, lm: ModelLike) -> MethodSpec:
        """This method as it runs on `lm`: a preset with the model's fitted
        thresholds where it takes them. Resolved once, after the model is
        loaded, so what a run records (settings.json, report.md, the CLI's
        tables) is the config it ran, and a re-fit is a changed method."""
        if self.source != "preset":
            return self
        return replace(self, config=resolve_preset(self.label, lm))

    def request(self, messages: list[dict[str, str]], options: GenerationOptions,
                normal: NormalParams | None = None, prefix_ids: tuple[int, ...] = ()) -> RunRequest:
        """The runner request that generates `messages` with this method (after
        the forced answer start `prefix_ids`, if any): its config as resolved
        (a preset keeps its name in the trace)."""
        if self.is_normal:
            return RunRequest(messages=messages, method=NORMAL, normal=normal or NormalParams(),
                              options=options, label=self.label, prefix_ids=prefix_ids)
        preset = self.label if self.source == "preset" else None
        return RunRequest(messages=messages, method="entropix", config=self.config, preset=preset,
                          options=options, label=self.label, prefix_ids=prefix_ids)


def known_names() -> str:
    return ", ".join((NORMAL, *PRESETS))


def resolve_method(name: str) -> MethodSpec:
    """`normal`, a preset name, or a path ending in .toml/.json."""
    if name == NORMAL:
        return MethodSpec(NORMAL, NORMAL)
    if name in PRESETS:
        return MethodSpec(name, "preset", get_preset(name))
    path = Path(name)
    if path.suffix.lower() in CONFIG_SUFFIXES:
        label = path.stem
        if not _LABEL.match(label):
            raise MethodError(f"config file {name}: its name {label!r} labels the method's reports and "
                              "files, so use letters, digits and _.+- only (rename the file)")
        return MethodSpec(label, str(path), load_config(path))
    raise MethodError(f"unknown method {name!r}: give {known_names()} or a .toml/.json sampler config")


def resolve_methods(text: str, flag: str = "--methods") -> tuple[MethodSpec, ...]:
    """A comma-separated list, in order, each label once."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise MethodError(f"{flag} is empty: give a comma-separated list, e.g. greedy,entropix,no_branch")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise MethodError(f"{flag} lists {twice!r} twice: give each method once")
    specs = tuple(resolve_method(n) for n in names)
    labels = [s.label for s in specs]
    for spec in specs:
        if labels.count(spec.label) > 1:
            raise MethodError(f"{flag}: two methods are labelled {spec.label!r} (a config file is labelled "
                              "by its stem): rename the file")
    return specs


def for_model(specs: tuple[MethodSpec, ...], lm: ModelLike) -> tuple[MethodSpec, ...]:
    """Every method as it runs on `lm` (MethodSpec.for_model)."""
    return tuple(spec.for_model(lm) for spec in specs)
