"""Thresholds fitted to one model, found by the model's fingerprint, so the
`entropix` preset means "argmax when *this* model is sure" for any model.

A fit (written by `mlx_main.py calibrate`, see calibrate.py) is a small TOML
file named `<fingerprint>.toml` with one table of thresholds per gating:

    model = "SmolLM2-135M-Instruct"
    fingerprint = "..."
    [quadrant]
    low_ent = 0.9
    ...
    [frog]
    ...

It is looked up first in the user's cache (MLX_ENTROPIX_FITTED_DIR, else
$XDG_CACHE_HOME/mlx-entropix/fitted, else ~/.cache/mlx-entropix/fitted), then
in the fits shipped with the repository (data/fitted/). The fingerprint hashes
the model config and the first and last MiB of each weight file (not their
names or places), so it costs milliseconds and is the same wherever the model
is installed and whether its weights are later dequantized or not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .config import (
    FITTED_PRESETS,
    GATINGS,
    PRESETS,
    QUADRANT_THRESHOLDS,
    THRESHOLD_FIELDS,
    ConfigError,
    SamplerConfig,
    get_preset,
)

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "fitted"
CACHE_ENV = "MLX_ENTROPIX_FITTED_DIR"
CHUNK = 1 << 20  # bytes hashed from each end of every weight file


class ModelLike(Protocol):
    """What a fit needs of a loaded model (load.LoadedModel has it)."""

    name: str
    path: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Fit:
    """A model's fitted thresholds: gating -> {threshold field: value}."""

    path: Path
    model: str
    tables: dict[str, dict[str, float]]


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlx-entropix" / "fitted"


@functools.lru_cache(maxsize=64)
def file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256(f"{size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(CHUNK))
        if size > CHUNK:
            f.seek(max(CHUNK, size - CHUNK))
            h.update(f.read(CHUNK))
    return h.hexdigest()


def _weight_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.glob("*.safetensors")) + sorted(path.glob("*.gguf"))


def model_fingerprint(lm: ModelLike) -> str:
    """16 hex digits identifying the model's weights and config."""
    h = hashlib.sha256(json.dumps(lm.config, sort_keys=True, default=str).encode())
    for f in _weight_files(Path(lm.path)):
        st = f.stat()
        h.update(file_digest(str(f), st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def _check_table(where: Path, gating: str, table: Any) -> dict[str, float]:
    allowed = QUADRANT_THRESHOLDS if gating == "quadrant" else THRESHOLD_FIELDS
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{gating}] must be a table of thresholds")
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: [{gating}] has unknown threshold '{unknown[0]}'; allowed: {', '.join(allowed)}")
    try:
        SamplerConfig(gating=gating).with_fitted(table)
    except ConfigError as e:
        raise ConfigError(f"{where}: [{gating}]: {e}") from None
    return {k: float(v) for k, v in table.items()}


def read_fit(path: Path) -> Fit:
    """A fit file, checked: every table must make a valid config."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}; delete it or run `mlx_main.py calibrate` again") from None
    tables = {g: _check_table(path, g, data[g]) for g in GATINGS if g in data}
    if not tables:
        raise ConfigError(f"{path} has no [quadrant] or [frog] table of thresholds")
    return Fit(path, str(data.get("model", "?")), tables)


def write_fit(directory: Path, lm: ModelLike, tables: dict[str, dict[str, float]],
              notes: dict[str, Any]) -> Path:
    """Write `<fingerprint>.toml` into `directory`; `notes` (how it was fitted)
    go into a [fit] table that lookups ignore."""
    directory.mkdir(parents=True, exist_ok=True)
    fp = model_fingerprint(lm)
    lines = [f"model = {json.dumps(lm.name)}", f"fingerprint = {json.dumps(fp)}", ""]
    for name, table in [("fit", notes), *tables.items()]:
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        lines.append("")
    path = directory / f"{fp}.toml"
    path.write_text("\n".join(lines))
    return path


def find_fit(lm: ModelLike) -> Fit | None:
    """The model's fit: the user's cache first, then the shipped ones."""
    name = f"{model_fingerprint(lm)}.toml"
    for directory in (cache_dir(), SHIPPED_DIR):
        if (directory / name).is_file():
            return read_fit(directory / name)
    return None


def resolve_preset(name: str, lm: ModelLike) -> SamplerConfig:
    """The preset as it applies to this model: fitted thresholds where the
    preset takes them and the model has a fit, else the published ones."""
    base = get_preset(name)
    gating = FITTED_PRESETS.get(name)
    fit = find_fit(lm) if gating else None
    if fit is None or gating not in fit.tables:
        return base
    return base.with_fitted(fit.tables[gating])


def presets_for(lm: ModelLike) -> dict[str, SamplerConfig]:
    return {name: resolve_preset(name, lm) for name in PRESETS}


def describe_thresholds(cfg: SamplerConfig, lm: ModelLike) -> str:
    """One line saying which thresholds a run uses, for the CLI and the server."""
    if cfg.greedy:
        return "none (greedy)"
    if cfg.thresholds == "fitted":
        fit = find_fit(lm)
        return f"fitted for {lm.name}" + (f" ({fit.path})" if fit else "")
    if cfg.thresholds == "custom":
        return "custom"
    if find_fit(lm) is not None:
        return "published"
    return f"published (no fit for {lm.name}: `mlx_main.py calibrate` fits them)"
