import pytest

from mlx_entropix.eval.extract import (
    canonical_number,
    extract_answer,
    extract_letter,
    extract_number,
    extract_string,
    infer_kind,
    normalize_gold,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Janet sells 9 eggs.\nShe makes 9 * 2 = $18.\n#### 18", "18"),
        ("So the answer is 42", "42"),
        ("The total is **42**", "42"),
        (r"Thus \boxed{42} apples.", "42"),
        (r"\boxed{-2.5} while 3 was close", "-2.5"),
        ("3 + 4 = 7.", "7"),
        ("It costs 1,234 dollars", "1234"),
        ("The answer is $1,234.50.", "1234.5"),
        ("The temperature fell to -5 degrees", "-5"),
        ("The answer is \u22123.", "-3"),
        ("7-2 = 5", "5"),
        ("The answer is 3.50", "3.5"),
        ("$18", "18"),
        ("18 dollars", "18"),
        ("5 km", "5"),
        ("50% of them", "50"),
        ("about .5 of it", "0.5"),
        ("First 3, then 4 more: the answer is 7, not 12.", "7"),
        ("9.11 or 9.9? The answer is 9.9.", "9.9"),
        ("We get 12, then 15, so 20", "20"),
        ("Answer: 8 (after 3 steps)", "8"),
        ("To answer this, 5 + 3 = 8", "8"),
        ("1,2,3", "3"),
        ("no digits here", None),
    ],
)
def test_numbers(text, expected):
    assert extract_number(text) == expected


def test_canonical_number():
    assert canonical_number("3.50") == canonical_number("3.5") == "3.5"
    assert canonical_number("1,000") == "1000"
    assert canonical_number("-0.0") == "0"
    assert canonical_number("1e400") == "1" + "0" * 400
    assert canonical_number("abc") is None


CHOICES = ["London", "Paris", "Rome"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(B)", "B"),
        ("Answer: b", "B"),
        ("B)", "B"),
        ("b", "B"),
        ("The answer is C.", "C"),
        ("The answer is (c) Rome", "C"),
        ("I think A) London, no wait, B) Paris", "B"),
        ("The answer is Paris.", "B"),
        ("Paris", "B"),
        ("The answer is a city in France: Paris.", None),
        ("A good question, hard to say", None),
        ("The answer is D.", None),
    ],
)
def test_letters(text, expected):
    assert extract_letter(text, CHOICES) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Paris.", "paris"),
        ("  PARIS ", "paris"),
        ("The answer is Paris.", "paris"),
        ("The answer is Paris, the capital of France.", "paris"),
        ("The answer is the Blue Whale!", "blue whale"),
        ("The capital of France is Paris.", "paris"),
        ("**Tuesday**", "tuesday"),
        ("I do not know, sorry", None),
        ("The capital of Japan is Tokyo, I believe.", "tokyo"),
    ],
)
def test_strings(text, expected):
    assert extract_string(text) == expected


def test_kind_inference_and_gold_normalisation():
    assert infer_kind("42", None) == "number"
    assert infer_kind("-3.50", None) == "number"
    assert infer_kind("$18", None) == "number"
    assert infer_kind("Paris", None) == "string"
    assert infer_kind("42", ["41", "42"]) == "letter"
    assert normalize_gold("$1,234.50", "number") == "1234.5"
    assert normalize_gold("Paris", "number") is None
    assert normalize_gold("(b)", "letter", CHOICES) == "B"
    assert normalize_gold("rome", "letter", CHOICES) == "C"
    assert normalize_gold("D", "letter", CHOICES) is None
    assert normalize_gold("The Paris.", "string") == "paris"


def test_extract_answer_dispatch():
    assert extract_answer("The answer is 3.50 dollars.", "number") == normalize_gold("3.5", "number")
    assert extract_answer("The answer is Paris.", "string") == normalize_gold("paris", "string")
    assert extract_answer("The answer is (b).", "letter", CHOICES) == "B"
    with pytest.raises(ValueError, match="unknown answer kind"):
        extract_answer("x", "date")
