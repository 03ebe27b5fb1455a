"""Run every method on every item and record what each one answered.

The model is not imported here: generation is injected as a `Generate`
callable, so the harness is tested with a deterministic fake and driven in
production by `mlx_entropix.runner.make_generate`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..methods import MethodSpec
from ..trace import Trace
from .dataset import EvalItem
from .distributed import Group
from .errors import EvalError
from .extract import extract_answer
from .prompt import build_messages
from .report import write_report
from .store import (
    RESULTS_FILE,
    SETTINGS_FILE,
    ResultsLog,
    RunSettings,
    check_settings,
    results_name,
    write_json_atomic,
)

# (messages, method, seed, max_tokens) -> the finished trace of one answer.
Generate = Callable[[list[dict[str, str]], MethodSpec, int, int], Trace]

TRACES_DIR = "traces"


def item_seed(seed: int, index: int) -> int:
    """The sampling seed of one item, shared by every method: hashed rather than
    seed + index so that runs with neighbouring --seed values do not overlap."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _method_result(item: EvalItem, trace: Trace, trace_path: str) -> dict[str, Any]:
    if trace.stats is None:
        raise EvalError("the generate function returned a trace without stats")
    extracted = extract_answer(trace.text, item.kind, item.choices)
    return {
        "text": trace.text,
        "extracted": extracted,
        "correct": extracted == item.gold,
        "tokens": trace.stats.generation_tokens,
        "time_s": trace.stats.total_time_s,
        "finish_reason": trace.stats.finish_reason,
        "outcome_counts": dict(trace.stats.outcome_counts),
        "trace": trace_path,
    }


def evaluate_item(
    item: EvalItem,
    settings: RunSettings,
    methods: Sequence[MethodSpec],
    generate: Generate,
    out: Path,
    on_answer: Callable[[str, bool], None],
) -> dict[str, Any]:
    """One item's record: the same messages and seed for every method."""
    messages = build_messages(item)
    seed = item_seed(settings.seed, item.index)
    record: dict[str, Any] = {
        "index": item.index,
        "id": item.id,
        "category": item.category,
        "question": item.question,
        "choices": item.choices,
        "kind": item.kind,
        "answer": item.answer,
        "gold": item.gold,
        "seed": seed,
        "model": None,
        "methods": {},
    }
    for method in methods:
        trace = generate(messages, method, seed, settings.max_tokens)
        rel = f"{TRACES_DIR}/{item.index:05d}-{method.label}.json"
        trace.save(out / rel)
        result = _method_result(item, trace, rel)
        record["methods"][method.label] = result
        record["model"] = record["model"] or trace.model.get("name")
        on_answer(method.label, result["correct"])
    return record


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not show,
    )


def _merge(group: Group, records: list[dict[str, Any]], expected: list[int]
           ) -> list[dict[str, Any]] | None:
    """All ranks' records, sorted by item index, on rank 0 (None elsewhere);
    `expected` are the indices of the items asked for, in order."""
    texts = group.gather_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    if group.rank != 0:
        return None
    merged = sorted(
        (json.loads(line) for text in texts for line in text.splitlines()),
        key=lambda r: r["index"],
    )
    indices = [r["index"] for r in merged]
    if indices != expected:
        raise EvalError(
            f"merged results are incomplete, duplicated or from other items: got {len(indices)} "
            f"of {len(expected)} items"
        )
    return merged


def run_eval(
    items: Sequence[EvalItem],
    settings: RunSettings,
    methods: Sequence[MethodSpec],
    generate: Generate,
    out: Path,
    *,
    resume: bool = False,
    group: Group | None = None,
    command: str = "",
    show_progress: bool = True,
) -> dict[str, Any] | None:
    """Evaluate `items`, appending each finished item to this rank's results
    file, then merge on rank 0 and write results.jsonl, summary.json and
    report.md there. Returns the summary on rank 0, None on other ranks."""
    group = group or Group()
    if len(items) != settings.n:
        raise EvalError(f"settings say {settings.n} items but {len(items)} were given")
    if tuple(m.label for m in methods) != settings.methods:
        raise EvalError(f"settings name the methods {settings.methods} but {[m.label for m in methods]} were given")
    if settings.world_size != group.size:
        raise EvalError(f"settings say {settings.world_size} processes but {group.size} are running")
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, settings, resume)
    group.barrier()
    if group.rank == 0:
        write_json_atomic(out / SETTINGS_FILE, settings.to_dict())
    (out / TRACES_DIR).mkdir(exist_ok=True)

    log = ResultsLog(out / results_name(group.rank, group.size))
    done = log.load()
    todo = [it for it in items if group.owns(it.index) and it.index not in done]
    running = {m: Counter() for m in settings.methods}
    for record in done.values():
        for m, result in record["methods"].items():
            running[m][result["correct"]] += 1

    def describe() -> str:
        scores = "  ".join(f"{m} {c[True]}/{c[True] + c[False]}" for m, c in running.items())
        return f"rank {group.rank}/{group.size}  {scores}" if group.size > 1 else scores

    with _progress(show_progress and group.rank == 0) as progress:
        task = progress.add_task(describe(), total=len(todo) * len(settings.methods))

        def on_answer(method: str, correct: bool) -> None:
            running[method][correct] += 1
            progress.update(task, advance=1, description=describe())

        for item in todo:
            record = evaluate_item(item, settings, methods, generate, out, on_answer)
            log.append(record)
            done[item.index] = record

    group.barrier()
    merged = _merge(group, [done[i] for i in sorted(done)], [it.index for it in items])
    if merged is None:
        return None
    if group.size > 1:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged)
        tmp = out / (RESULTS_FILE + ".tmp")
        tmp.write_text(lines, encoding="utf-8")
        tmp.replace(out / RESULTS_FILE)
    return write_report(out, settings, merged, command)
