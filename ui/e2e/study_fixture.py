"""Write an eval folder shaped like a study's, for the end-to-end run's eval views:
    uv run python ui/e2e/study_fixture.py SMOKE_DIR OUT_DIR

Real items (data/eval/basics.jsonl, multiple choice among them) and the harness's own
scoring, summary and report code (eval/report.py), but made-up answers: greedy, frog, and
self-consistency at budgets k = 2, 4, 8 (labelled and configured as the harness's
multi-trace methods are: `self_consistency@k=N`). Generating them would take the e2e
minutes; the views only need the format. Every answer's trace is a copy of the smoke
run's first trace.
"""

import json
import random
import shutil
import sys
from pathlib import Path

from mlx_entropix.eval.dataset import file_sha256, load_dataset
from mlx_entropix.eval.report import score_records, write_report
from mlx_entropix.eval.store import RESULTS_FILE, SETTINGS_FILE, RunSettings

DATASET = Path(__file__).resolve().parents[2] / "data" / "eval" / "basics.jsonl"
METHODS = {"greedy": (0.45, 30, None), "frog": (0.5, 34, None), "self_consistency@k=2": (0.55, 62, 2),
           "self_consistency@k=4": (0.62, 125, 4), "self_consistency@k=8": (0.7, 250, 8)}


def main(smoke: Path, out: Path) -> None:
    out.mkdir(parents=True)
    (out / "traces").mkdir()
    shutil.copy(next((smoke / "traces").glob("*.json")), out / "traces" / "answer.json")
    items = load_dataset(DATASET)
    picked = [it for it in items if it.category == "choice"][:4] + [it for it in items if it.category != "choice"][:8]
    rng = random.Random(0)
    records = []
    for index, item in enumerate(picked):
        results = {}
        for label, (p, tokens, _) in METHODS.items():
            correct = rng.random() < p
            answer = item.gold if correct else ("A" if item.gold != "A" else "B") if item.choices else "0"
            results[label] = {"text": f"The answer is {answer}.",
                              "tokens": rng.randint(tokens // 2, tokens * 3 // 2), "time_s": 0.5,
                              "finish_reason": "stop", "outcome_counts": {"argmax": 3}, "trace": "traces/answer.json"}
        records.append({"index": index, "id": item.id, "category": item.category, "question": item.question,
                        "choices": item.choices, "kind": item.kind, "seed": index,
                        "model": "SmolLM2-135M-Instruct", "methods": results})
    records = score_records(records, dict(enumerate(picked)))
    configs = {label: ({"source": "multi-trace", "family": label.split("@")[0], "params": {"k": k, "pick": "vote"}}
                       if k else {"source": f"made up ({label})"})
               for label, (_, _, k) in METHODS.items()}
    settings = RunSettings(dataset=str(DATASET), dataset_sha256=file_sha256(DATASET), methods=tuple(METHODS),
                           n=len(records), seed=0, max_tokens=48, model=None, configs=configs)
    (out / SETTINGS_FILE).write_text(json.dumps(settings.to_dict()))
    (out / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    write_report(out, settings, records, "ui/e2e/study_fixture.py")
    print(f"{len(records)} items, {len(METHODS)} methods")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
