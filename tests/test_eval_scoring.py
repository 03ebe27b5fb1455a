"""Strict scoring: only the answer the prompt asked for counts; the lenient
extractor stays beside it, labelled; `score` scores anyone's replies."""

import json

import pytest
import typer
from typer.testing import CliRunner

from mlx_entropix.cli.score import score_command
from mlx_entropix.eval.dataset import load_dataset, select_split
from mlx_entropix.eval.scoring import score_text, strict_answer, strict_span


@pytest.mark.parametrize("text, kind, expected", [
    ("3 + 4 = 7. The answer is 7.", "number", "7"),
    ("The answer is $1,234.50 per day.", "number", "1234.5"),
    ("The answer is: **18**", "number", "18"),
    ("The final answer is \\boxed{42}", "number", "42"),
    ("The answer is -3.", "number", "-3"),
    ("The answer is 5, no wait. The answer is 6.", "number", "6"),  # the last one
    ("The answer is X.", "number", None),  # the placeholder, not an answer
    ("9.11 is larger than 9.9.", "number", None),  # no marker: a format failure, not "9.9"
    ("Answer: 7", "number", None),  # not the form asked for
    ("The answer is B) Rome.", "letter", "B"),
    ("The answer is (A).", "letter", "A"),
    ("The answer is a cat.", "letter", None),
    ("The answer is Z.", "letter", None),  # no such choice
    ("The answer is Paris, France.", "string", "paris"),
    ('The answer is "B"', "letter", "B"),
    ('The answer is "The answer is"', "letter", None),
])
def test_strict_answers(text, kind, expected):
    assert strict_answer(text, kind, ["x", "y"] if kind == "letter" else None) == expected


def test_strict_is_stricter_than_lenient_and_says_so():
    s = score_text("9.11 is larger than 9.9.", "number", "9.9")
    assert (s.answer, s.correct, s.format_failure) == (None, False, True)
    assert (s.lenient_answer, s.lenient_correct) == ("9.9", True)


def test_span_points_at_the_answer():
    text = "So the answer is 42 apples."
    answer, start, end = strict_span(text, "number")
    assert (answer, text[start:end]) == ("42", "42")


def test_gsm8k_is_split_by_line_number(tmp_path):
    path = tmp_path / "gsm.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"work\n#### {i}"}) + "\n"
                            for i in range(1, 12)))
    items = load_dataset(path)
    assert items[0].gold == "1" and items[0].line == 1 and items[0].worked
    from mlx_entropix.eval.prompt import build_messages

    assert build_messages(items[0])[0]["content"].endswith(
        'Think step by step. At the end, write "The answer is" followed by the final number alone.')
    assert [it.line for it in select_split(items, "dev", path)] == [5, 10]
    assert [it.line for it in select_split(items, "test", path)] == [1, 2, 3, 4, 6, 7, 8, 9, 11]


app = typer.Typer()
app.command()(score_command)


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": f"{i}+1?", "answer": str(i + 1)}) + "\n"
                            for i in range(4)))
    return data, tmp_path / "r.jsonl"


def test_score_command_prints_strict_lenient_and_failures(files):
    data, resp = files
    resp.write_text("\n".join(json.dumps(r) for r in [
        {"id": "q0", "text": "The answer is 1."}, {"id": "q1", "text": "It is 2."},
        {"id": "q2", "text": "The answer is X."}]) + "\n")
    r = CliRunner().invoke(app, ["--dataset", str(data), "--responses", str(resp)])
    assert r.exit_code == 0, r.output
    assert "1/3 = 33.3%" in r.output  # strict: only q0
    assert "2/3" in r.output  # two format failures
    assert "2/3 = 66.7%" in r.output  # lenient also takes "It is 2."
    assert "3 (of 4 dataset items)" in r.output


@pytest.mark.parametrize("lines, message", [
    (['{"id": "q9", "text": "x"}'], "id 'q9' is not in the dataset"),
    (['{"id": "q0"}'], 'expected an object with "id" and "text"'),
    (['{"id": "q0", "text": "a"}', '{"id": "q0", "text": "b"}'], "id 'q0' twice (first on line 1)"),
    (["not json"], "r.jsonl:1: bad JSON"),
    ([], "no responses"),
])
def test_score_command_errors_are_one_line(files, lines, message):
    data, resp = files
    resp.write_text("\n".join(lines))
    r = CliRunner().invoke(app, ["--dataset", str(data), "--responses", str(resp)])
    assert r.exit_code == 2
    out = r.output.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("error: ") and message in out[0]
