"""The on-disk state of a run: `settings.json` (what was asked) and an
append-only JSONL of finished items, written so that a kill at any moment loses
at most the item in progress and a resume neither loses nor repeats one."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import EvalError

SETTINGS_FILE = "settings.json"
RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class RunSettings:
    """Everything that changes what a result means; a resume must match it.
    `methods` are the labels, `configs` what each label runs (its source and
    sampler config), so a preset or config file changed between two halves of
    a run is caught."""

    dataset: str
    dataset_sha256: str
    methods: tuple[str, ...]
    n: int
    seed: int
    max_tokens: int
    model: str | None
    world_size: int = 1
    split: str = "all"
    configs: dict[str, Any] = field(default_factory=dict)
    sealed: bool = False  # preregistered: no score shown or stored before the last item

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSettings:
        names = {f.name for f in fields(cls)}
        missing = names - d.keys()
        if missing:
            raise EvalError(f"{SETTINGS_FILE} lacks {sorted(missing)}: it was not written by this version")
        return cls(**{k: tuple(v) if k == "methods" else v for k, v in d.items() if k in names})


def results_name(rank: int, size: int) -> str:
    """A single process appends straight to results.jsonl; ranks keep their own."""
    return RESULTS_FILE if size == 1 else f"results.rank{rank}.jsonl"


def _has_run(out: Path) -> bool:
    return (out / SETTINGS_FILE).exists() or any(out.glob("results*.jsonl"))


def _change(name: str, before: Any, now: Any) -> str:
    """One changed setting in words; configs name the methods whose config differs."""
    if name == "configs":
        labels = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        return f"the sampler config of {', '.join(labels)} changed"
    return f"{name} was {before!r}, now {now!r}"


def check_settings(out: Path, settings: RunSettings, resume: bool) -> None:
    """Refuse to mix two runs in one --out directory."""
    if not _has_run(out):
        return
    if not resume:
        raise EvalError(
            f"{out} already holds an evaluation run: pass --resume to continue it, or choose another --out"
        )
    path = out / SETTINGS_FILE
    if not path.exists():
        raise EvalError(f"cannot resume: {path} is missing, so the earlier run's settings are unknown")
    try:
        before = RunSettings.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise EvalError(f"cannot resume: {path} is unreadable ({e})") from None
    changed = [
        _change(f.name, getattr(before, f.name), getattr(settings, f.name))
        for f in fields(RunSettings)
        if f.name != "dataset" and getattr(before, f.name) != getattr(settings, f.name)
    ]
    if changed:
        raise EvalError(
            f"cannot resume {out} with different settings ({'; '.join(changed)}): "
            "rerun with the same options, or choose another --out"
        )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


class ResultsLog:
    """Append-only JSONL of finished items, one line per item, fsynced."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[int, dict[str, Any]]:
        """Finished items by index. A last line without its newline is what a
        kill mid-write leaves: it is cut off the file and its item redone."""
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        complete = raw.rfind(b"\n") + 1
        if complete < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        done: dict[int, dict[str, Any]] = {}
        for lineno, line in enumerate(raw[:complete].decode("utf-8").splitlines(), start=1):
            try:
                record = json.loads(line)
                index = int(record["index"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise EvalError(
                    f"{self.path}:{lineno}: corrupt result line ({type(e).__name__}); "
                    "delete the line or start again with another --out"
                ) from None
            if index in done:
                raise EvalError(f"{self.path}:{lineno}: item {index} is recorded twice")
            done[index] = record
        return done

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
