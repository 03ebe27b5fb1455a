"""Run every method on every item and record what each one answered.

The model is not imported here: generation is injected as a `Decoder`
(traces.py), so the harness is tested with a deterministic fake and driven in
production by `model.ModelDecoder`. Items are evaluated several at a time, their
traces sharing one continuous batch (inflight.py); each item's record is the
one it gets alone (a row decodes the same whatever rows share its steps).

A `sealed` run (preregistered, see sealed.py) records only what the methods
wrote, never whether it was right: its progress shows counts, its results
file holds no answers or gold until the last item is done, and only then is
it scored, written with the scores and summarised.
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
from .inflight import in_flight
from .multitrace import EvalMethod, ItemContext, SinglePass, sample_requests
from .multitrace import GREEDY as GREEDY_SPEC
from .prompt import build_messages
from .report import score_records, write_report
from .scoring import strict_span
from .store import (
    RESULTS_FILE,
    SETTINGS_FILE,
    ResultsLog,
    RunSettings,
    check_settings,
    results_name,
    write_json_atomic,
)
from .traces import Decoder, GenerateMany, TraceRequest, TraceSource

TRACES_DIR = "traces"


def item_seed(seed: int, index: int) -> int:
    """The sampling seed of one item, shared by every method: hashed rather than
    seed + index so that runs with neighbouring --seed values do not overlap."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def as_eval_method(method: EvalMethod | MethodSpec) -> EvalMethod:
    return SinglePass(method) if isinstance(method, MethodSpec) else method


def _first_requests(method: EvalMethod, ctx: ItemContext) -> list[TraceRequest]:
    """The traces a method needs before it can decide on more, so that one
    item's first traces go to the model together (a batch)."""
    if isinstance(method, SinglePass):
        return [ctx.request(method.spec)]
    first = []
    if method.family in ("cot_decoding", "egb") or method.params["pick"] == "guard":
        first.append(ctx.request(GREEDY_SPEC))
    if method.family in ("self_consistency", "deepconf"):
        first += sample_requests(ctx, method.params)
    return first


def _trace_entry(req: TraceRequest, trace: Trace, path: str | None) -> dict[str, Any]:
    if trace.stats is None:
        raise EvalError("the generate function returned a trace without stats")
    entry = {
        **req.describe(),
        "text": trace.text,
        "tokens": trace.stats.generation_tokens,
        "time_s": trace.stats.total_time_s,
        "finish_reason": trace.stats.finish_reason,
        "outcome_counts": dict(trace.stats.outcome_counts),
    }
    if path is not None:
        entry["trace"] = path
    return entry


def evaluate_item(
    item: EvalItem,
    settings: RunSettings,
    methods: Sequence[EvalMethod],
    generate_many: GenerateMany,
    out: Path,
    on_answer: Callable[[str], None],
    save_traces: bool = True,
) -> dict[str, Any]:
    """One item's record: the same messages and seed for every method; every
    distinct trace once, each method's answer pointing into them.
    `generate_many` blocks until its traces are decoded (with other items')."""
    messages = build_messages(item)
    seed = item_seed(settings.seed, item.index)
    source = TraceSource(generate_many)
    ctx = ItemContext(messages, seed, settings.max_tokens, source,
                      lambda text: strict_span(text, item.kind, item.choices))
    source.get([r for m in methods for r in _first_requests(m, ctx)])
    answers = {}
    for method in methods:
        answers[method.label] = method.answer(ctx)
        on_answer(method.label)
    traces = []
    for i, req in enumerate(source.requests):
        trace = source.traces[req.key()]
        rel = f"{TRACES_DIR}/{item.index:05d}-{i:02d}.json" if save_traces else None
        if rel is not None:
            trace.save(out / rel)
        traces.append(_trace_entry(req, trace, rel))
    record: dict[str, Any] = {
        "index": item.index,
        "id": item.id,
        "line": item.line,
        "category": item.category,
        "question": item.question,
        "choices": item.choices,
        "kind": item.kind,
        "seed": seed,
        "model": next((t.model.get("name") for t in source.traces.values()), None),
        "traces": traces,
        "methods": {},
    }
    for label, a in answers.items():
        chosen = traces[a.chosen] if a.chosen is not None else (traces[a.used[0]] if a.used else {})
        record["methods"][label] = {
            "text": a.text,
            "tokens": a.tokens,
            "time_s": a.time_s,
            "finish_reason": chosen.get("finish_reason"),
            "outcome_counts": _outcomes(traces, a.used),
            "trace": chosen.get("trace"),
            "used": a.used,
            "chosen": a.chosen,
            "details": a.details,
        }
    return record


def _outcomes(traces: list[dict[str, Any]], used: list[int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for i in used:
        total.update(traces[i]["outcome_counts"])
    return dict(total)


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


def _write_results(out: Path, records: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    tmp = out / (RESULTS_FILE + ".tmp")
    tmp.write_text(lines, encoding="utf-8")
    tmp.replace(out / RESULTS_FILE)


def run_eval(
    items: Sequence[EvalItem],
    settings: RunSettings,
    methods: Sequence[EvalMethod | MethodSpec],
    decoder: Decoder,
    out: Path,
    *,
    resume: bool = False,
    group: Group | None = None,
    command: str = "",
    show_progress: bool = True,
    save_traces: bool = True,
) -> dict[str, Any] | None:
    """Evaluate `items`, up to decoder.max_batch at a time, appending each
    finished item to this rank's results file (in the order they finish), then
    merge on rank 0, score, and write results.jsonl (with the scores, by
    index), summary.json and report.md there. Returns the summary on rank 0,
    None on other ranks. A sealed run (settings.sealed) shows and stores no
    score before the last item is done."""
    group = group or Group()
    methods = [as_eval_method(m) for m in methods]
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
    if save_traces:
        (out / TRACES_DIR).mkdir(exist_ok=True)

    by_index = {it.index: it for it in items}
    log = ResultsLog(out / results_name(group.rank, group.size))
    done = log.load()
    todo = [it for it in items if group.owns(it.index) and it.index not in done]
    running = {m: Counter() for m in settings.methods}
    if not settings.sealed:
        for record in score_records(list(done.values()), by_index):
            for m, result in record["methods"].items():
                running[m][result["correct"]] += 1

    def describe(finished: int) -> str:
        if settings.sealed:
            scores = f"sealed: {finished}/{len(items)} items, no score until the last"
        else:
            scores = "  ".join(f"{m} {c[True]}/{c[True] + c[False]}" for m, c in running.items())
        return f"rank {group.rank}/{group.size}  {scores}" if group.size > 1 else scores

    with _progress(show_progress and group.rank == 0) as progress:
        task = progress.add_task(describe(len(done)), total=len(todo) * len(settings.methods))

        def on_answer(method: str) -> None:
            progress.update(task, advance=1)

        def evaluate(item: EvalItem, generate_many: GenerateMany) -> dict[str, Any]:
            return evaluate_item(item, settings, methods, generate_many, out, on_answer, save_traces)

        for item, record in in_flight(todo, evaluate, decoder):
            log.append(record)
            done[item.index] = record
            if not settings.sealed:
                for m, result in score_records([record], by_index)[0]["methods"].items():
                    running[m][result["correct"]] += 1
            progress.update(task, description=describe(len(done)))

    group.barrier()
    merged = _merge(group, [done[i] for i in sorted(done)], [it.index for it in items])
    if merged is None:
        return None
    scored = score_records(merged, by_index)
    _write_results(out, scored)
    return write_report(out, settings, scored, command)
