"""Prompt sources of mlx_main.py: the built-in set, CSV files and their errors."""

from pathlib import Path

import pytest

from mlx_entropix.cli.app import DEFAULT_COMPARE, with_optional_values
from mlx_entropix.cli.jobs import artifact_path, plan_jobs
from mlx_entropix.methods import resolve_methods
from mlx_entropix.prompts import (BUILTIN_PROMPTS, DEFAULT_CSV, Prompt, PromptFileError,
                                  load_prompt_csv)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_set_covers_the_advertised_kinds():
    prompts = {p.name: p.prompt for p in BUILTIN_PROMPTS}
    assert prompts["larger"] == "Which number is larger, 9.9 or 9.11?"
    assert {"capital", "story", "puzzle", "code"} <= set(prompts)


def test_default_csv_is_a_valid_prompt_set():
    prompts = load_prompt_csv(DEFAULT_CSV)
    assert len(prompts) >= 5
    assert any("9.9 or 9.11" in p.prompt for p in prompts)


def test_csv_with_all_columns_quoting_and_blank_lines(tmp_path):
    path = write(tmp_path, 'name,prompt,system,expected\n'
                           'a,"Hello, world",Be brief.,hi\n'
                           '\n'
                           'b,"Two\nlines",,\n')
    a, b = load_prompt_csv(path)
    assert a == Prompt("a", "Hello, world", "Be brief.", "hi")
    assert b == Prompt("b", "Two\nlines")
    assert a.messages("ignored")[0] == {"role": "system", "content": "Be brief."}
    assert b.messages("Default.") == [{"role": "system", "content": "Default."},
                                      {"role": "user", "content": "Two\nlines"}]
    assert a.answered("Oh HI there") is True and a.answered("no") is False
    assert b.answered("anything") is None


@pytest.mark.parametrize("text, message", [
    ("name,prompt\na,hello\nb,hello,extra\n", "line 3: 3 fields but the header has 2"),
    ("name,question\na,hello\n", "line 1: unknown column 'question'"),
    ("name,system\na,hello\n", "line 1: the header has no 'prompt' column"),
    ("name,prompt\na,hello\nb,\n", "line 3: the prompt field is empty"),
    ("name,prompt\nx y,hello\nx-y,again\n", "line 3: name 'x-y' is already used on line 2"),
    ('name,prompt\na,"unclosed\n', "line 2:"),
    ('name,prompt\na,b "c" d\n', None),
    ("", "is empty"),
    ("name,prompt\n", "has a header but no prompts"),
])
def test_malformed_csv_names_the_line_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    if message is None:
        assert load_prompt_csv(path)[0].prompt == 'b "c" d'
        return
    with pytest.raises(PromptFileError, match=message.replace("(", r"\(")) as e:
        load_prompt_csv(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_missing_csv(tmp_path):
    with pytest.raises(PromptFileError, match="prompt file not found"):
        load_prompt_csv(tmp_path / "nope.csv")


def test_bare_prompt_csv_and_compare_flags_get_their_defaults():
    assert with_optional_values(["--prompt_csv"]) == ["--prompt_csv", str(DEFAULT_CSV)]
    assert with_optional_values(["--prompt_csv", "--max-tokens", "2"])[1] == str(DEFAULT_CSV)
    assert with_optional_values(["--prompt_csv", "mine.csv"]) == ["--prompt_csv", "mine.csv"]
    assert with_optional_values(["--compare", "--seed", "1"]) == ["--compare", DEFAULT_COMPARE, "--seed", "1"]
    assert with_optional_values(["--input", "x", "--compare"]) == ["--input", "x", "--compare", DEFAULT_COMPARE]
    assert with_optional_values(["--compare", "greedy,a.toml"]) == ["--compare", "greedy,a.toml"]


def test_run_labels_and_file_names():
    prompts = [Prompt("q one", "x"), Prompt("q2", "y")]
    one, two = resolve_methods("entropix"), resolve_methods("no_branch,normal")
    assert [j.label for j in plan_jobs(prompts[:1], one, batch=False)] == [""]
    assert [j.label for j in plan_jobs(prompts[:1], two, batch=False)] == ["no_branch", "normal"]
    labels = [j.label for j in plan_jobs(prompts, two, batch=True)]
    assert labels == ["q-one.no_branch", "q-one.normal", "q2.no_branch", "q2.normal"]
    assert artifact_path(Path("out/t.json"), "") == Path("out/t.json")
    assert artifact_path(Path("out/t.json"), "q2.normal") == Path("out/t.q2.normal.json")
