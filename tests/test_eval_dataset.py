import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mlx_entropix.eval.cli import BUILTIN_DATASET
from mlx_entropix.eval.dataset import DatasetError, load_dataset, select_split
from mlx_entropix.eval.extract import extract_answer
from mlx_entropix.eval.prompt import build_messages

GSM8K = Path("/work/shared/data/gsm8k/test.jsonl")
if not GSM8K.exists():  # CI runs with shared/ beside the clone
    GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "bad_line, lineno, message",
    [
        ('{"question": "x", "answer": ', 7, "bad JSON"),
        (json.dumps({"answer": "2"}), 3, "missing 'question'"),
        (json.dumps({"question": "x"}), 2, "missing 'answer'"),
        (json.dumps({"question": "  ", "answer": "2"}), 2, "'question' is empty"),
        (json.dumps(["question", "answer"]), 4, "expected a JSON object"),
        (json.dumps({"question": "x", "answer": "B", "choices": "A,B"}), 2, "'choices' must be a list"),
        (json.dumps({"question": "x", "answer": "E", "choices": ["a", "b"]}), 2, "not a valid letter answer"),
        (json.dumps({"question": "x", "answer": "Paris", "kind": "number"}), 5, "not a valid number answer"),
        (json.dumps({"question": "x", "answer": "2", "kind": "date"}), 2, "unknown kind 'date'"),
        (json.dumps({"question": "x", "answer": "2", "id": "1"}), 2, "duplicate id '1'"),
        (json.dumps({"question": "x", "answer": "2", "split": "train"}), 2, "unknown split 'train'"),
    ],
)
def test_errors_name_file_and_line(tmp_path, bad_line, lineno, message):
    lines = [
        json.dumps({"question": f"What is {i} + 0?", "answer": str(i), "id": str(i)})
        for i in range(1, lineno)
    ]
    path = _write(tmp_path, lines + [bad_line])
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    text = str(err.value)
    assert text.startswith(f"{path}:{lineno}: ") and message in text and "\n" not in text


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(empty)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.jsonl")


def test_fields_and_kinds(tmp_path):
    path = _write(
        tmp_path,
        [
            json.dumps({"question": "Q1", "answer": "Work.\n#### 1,200"}),
            "",
            json.dumps(
                {
                    "question": "Q2",
                    "answer": "Rome",
                    "choices": ["Paris", "Rome"],
                    "system": "Be brief.",
                    "id": "mc",
                }
            ),
            json.dumps({"question": "Q3", "answer": "The Nile", "category": "geo"}),
            json.dumps({"question": "Q4", "answer": "12", "kind": "string"}),
        ],
    )
    a, b, c, d = load_dataset(path)
    assert (a.index, a.id, a.kind, a.gold, a.answer) == (0, "0", "number", "1200", "1,200")
    assert (b.index, b.id, b.kind, b.gold, b.system) == (1, "mc", "letter", "B", "Be brief.")
    assert (c.kind, c.gold, c.category) == ("string", "nile", "geo")
    assert (d.kind, d.gold) == ("string", "12")


def test_split_selection(tmp_path):
    lines = [json.dumps({"question": f"{i}?", "answer": str(i), "split": s}) for i, s in
             enumerate(["dev", "test", "test"])]
    path = _write(tmp_path, lines)
    items = load_dataset(path)
    assert [it.index for it in select_split(items, "test", path)] == [1, 2]
    assert select_split(items, "all", path) == items
    with pytest.raises(DatasetError, match="choose dev, test or all"):
        select_split(items, "train", path)
    unsplit = _write(tmp_path, lines + [json.dumps({"question": "4?", "answer": "4"})])  # some have one
    with pytest.raises(DatasetError, match="1 items have no 'split' field.*--split all"):
        select_split(load_dataset(unsplit), "dev", unsplit)
    only_dev = _write(tmp_path, lines[:1])
    with pytest.raises(DatasetError, match="no item is in the 'test' split"):
        select_split(load_dataset(only_dev), "test", only_dev)


def test_prompt_lists_choices_and_asks_for_the_answer_line(tmp_path):
    path = _write(
        tmp_path,
        [
            json.dumps(
                {
                    "question": "Capital of Italy?",
                    "answer": "B",
                    "choices": ["Paris", "Rome"],
                    "system": "Be brief.",
                }
            )
        ],
    )
    messages = build_messages(load_dataset(path)[0])
    assert messages[0] == {"role": "system", "content": "Be brief."}
    user = messages[1]["content"]
    assert messages[1]["role"] == "user" and user.startswith("Capital of Italy?")
    assert "A) Paris\nB) Rome" in user and user.endswith(
        'End your reply with the words "The answer is" followed by the letter of the correct choice.')
    # no literal placeholder a small model could copy as its answer
    assert not any(p in user for p in ('"The answer is X', "<number>", "<letter>", "<answer>"))


@pytest.mark.skipif(not GSM8K.exists(), reason="shared GSM8K copy not present")
def test_gsm8k_loads_as_is():
    items = load_dataset(GSM8K)
    assert len(items) == 1319
    assert all(item.kind == "number" for item in items)
    assert items[0].gold == "18"
    assert all(extract_answer(f"#### {item.answer}", "number") == item.gold for item in items)


def test_builtin_set_loads_and_every_gold_extracts_as_its_kind():
    items = load_dataset(BUILTIN_DATASET)
    assert len(items) >= 300
    categories = Counter(item.category for item in items)
    assert set(categories) == {"arithmetic", "comparison", "units", "word", "facts", "choice",
                               "counting", "dates"}
    assert min(categories.values()) >= 20
    assert len({(item.question, tuple(item.choices or ())) for item in items}) == len(items)
    kinds = {"choice": {"letter"}, "facts": {"string", "number"}, "dates": {"string", "number"}}
    for item in items:
        assert item.kind in kinds.get(item.category, {"number"}), item.id
        for reply in (
            item.answer,
            f"The answer is {item.answer}.",
            f"Let me think.\nThe answer is **{item.answer}**.",
        ):
            assert extract_answer(reply, item.kind, item.choices) == item.gold, (item.id, reply)


def test_builtin_set_keeps_basics120_and_a_fixed_split_per_category():
    items = load_dataset(BUILTIN_DATASET)
    by_id = {item.id: item for item in items}
    for old in load_dataset(BUILTIN_DATASET.with_name("basics120.jsonl")):
        assert by_id[old.id].question == old.question and by_id[old.id].gold == old.gold
    for category in {item.category for item in items}:
        splits = Counter(item.split for item in items if item.category == category)
        assert set(splits) == {"dev", "test"}
        assert abs(splits["dev"] - sum(splits.values()) / 3) <= 1, category


def test_builtin_set_is_what_its_generator_writes():
    done = subprocess.run([sys.executable, str(BUILTIN_DATASET.with_name("generate.py")), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_comparison_items_are_the_misleading_kind():
    """Fewer decimal digits, yet the larger number: 9.9 vs 9.11."""
    for item in load_dataset(BUILTIN_DATASET):
        if item.id.startswith("gen-comparison"):
            a, b = item.question.rstrip("?").split(", ")[1].split(" or ")
            short, long_ = sorted((a, b), key=len)
            assert float(short) > float(long_) and int(short.split(".")[1]) < int(long_.split(".")[1])
