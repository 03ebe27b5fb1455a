"""Build `basics.jsonl`, the built-in evaluation set, from its three sources:
the hand-written `basics120.jsonl` and `handwritten.jsonl`, and items generated
here with exact answers (arithmetic, decimal comparisons, unit conversions,
counting, days and months, multiple choice). Every item gets a fixed `split`:
within each category a third goes to `dev` (for fitting and choosing), the
rest to `test` (held out), chosen by a hash of the item's id so that adding an
item never moves another.

    uv run python data/eval/generate.py          # rewrite basics.jsonl
    uv run python data/eval/generate.py --check  # fail if basics.jsonl is not this script's output
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = (HERE / "basics120.jsonl", HERE / "handwritten.jsonl")
OUTPUT = HERE / "basics.jsonl"
SEED = 20261201
DEV_SHARE = Fraction(1, 3)

Item = dict[str, object]

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth", "eleventh", "twelfth"]
# (larger unit, smaller unit, how many smaller in one larger)
UNITS = [("meters", "centimeters", 100), ("kilometers", "meters", 1000), ("kilograms", "grams", 1000),
         ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24),
         ("weeks", "days", 7), ("dollars", "cents", 100), ("liters", "milliliters", 1000),
         ("feet", "inches", 12), ("years", "months", 12), ("dozens", "eggs", 12)]
GROUPS = {
    "fruit": ["apple", "banana", "cherry", "grape", "pear", "plum", "orange", "mango"],
    "animal": ["dog", "horse", "rabbit", "tiger", "sheep", "mouse", "lion", "goat"],
    "colour": ["red", "blue", "green", "yellow", "purple", "pink", "brown", "white"],
    "vehicle": ["car", "bus", "bicycle", "train", "truck", "boat", "plane", "tractor"],
    "tool": ["hammer", "saw", "wrench", "drill", "shovel", "screwdriver", "rake", "chisel"],
}
PLURAL = {"fruit": "fruits", "animal": "animals", "colour": "colours", "vehicle": "vehicles",
          "tool": "tools"}


def number(x: Fraction | int) -> str:
    """An exact answer as the extractor's canonical text: '12', '-3', '2.75'."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    text = f"{float(x):.10f}".rstrip("0")
    if Fraction(text) != x:
        raise ValueError(f"{x} has no short decimal form")
    return text


def arithmetic(rng: random.Random) -> Iterator[Item]:
    for _ in range(12):
        a, b = rng.randint(11, 89), rng.randint(11, 89)
        yield {"question": f"What is {a} + {b}?", "answer": number(a + b)}
    for _ in range(10):
        a, b = rng.randint(20, 99), rng.randint(1, 60)
        yield {"question": f"What is {a} - {b}?", "answer": number(a - b)}
    for _ in range(10):
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        yield {"question": f"What is {a} * {b}?", "answer": number(a * b)}
    for _ in range(8):
        b, q = rng.randint(2, 9), rng.randint(2, 12)
        yield {"question": f"What is {b * q} / {b}?", "answer": number(q)}
    for _ in range(8):
        a, b = Fraction(rng.randint(11, 99), 10), Fraction(rng.randint(11, 99), 10)
        yield {"question": f"What is {number(a)} + {number(b)}?", "answer": number(a + b)}


def comparison(rng: random.Random) -> Iterator[Item]:
    """Decimals whose digits mislead: 9.9 vs 9.11 (fewer digits, larger number)."""
    for _ in range(30):
        whole = rng.randint(0, 20)
        short = rng.randint(2, 9)
        tail = rng.choice([t for t in range(11, 10 * short) if t % 10])  # t/100 < short/10, t > short
        a, b = Fraction(10 * whole + short, 10), Fraction(100 * whole + tail, 100)
        pair = [a, b] if rng.random() < 0.5 else [b, a]
        word = rng.choice(["larger", "smaller"])
        gold = max(pair) if word == "larger" else min(pair)
        yield {"question": f"Which number is {word}, {number(pair[0])} or {number(pair[1])}?",
               "answer": number(gold)}


def units(rng: random.Random) -> Iterator[Item]:
    for big, small, factor in UNITS:
        k = rng.randint(2, 9)
        yield {"question": f"How many {small} are in {k} {big}?", "answer": number(k * factor)}
        k = rng.randint(2, 9)
        yield {"question": f"How many {big} are {k * factor} {small}?", "answer": number(k)}


def counting(rng: random.Random) -> Iterator[Item]:
    for _ in range(16):
        group = rng.choice(sorted(GROUPS))
        n = rng.randint(2, 7)
        listed = rng.sample(GROUPS[group], n)
        yield {"question": f"How many {PLURAL[group]} are in this list: {', '.join(listed)}?",
               "answer": number(n)}
    words = sorted({w for g in GROUPS.values() for w in g})
    for word in rng.sample(words, 10):
        yield {"question": f"How many letters are in the word \"{word}\"?", "answer": number(len(word))}


def dates(rng: random.Random) -> Iterator[Item]:
    for day in rng.sample(range(7), 5):
        yield {"question": f"What day of the week comes after {DAYS[day]}?", "answer": DAYS[(day + 1) % 7]}
    for day in rng.sample(range(7), 5):
        k = rng.randint(2, 5)
        yield {"question": f"If today is {DAYS[day]}, what day of the week is it in {k} days?",
               "answer": DAYS[(day + k) % 7]}
    for month in rng.sample(range(12), 6):
        yield {"question": f"What month comes after {MONTHS[month]}?", "answer": MONTHS[(month + 1) % 12]}
    for month in rng.sample(range(12), 6):
        yield {"question": f"What is the {ORDINALS[month]} month of the year?", "answer": MONTHS[month]}
    for month in rng.sample([m for m in range(12) if m != 1], 6):
        yield {"question": f"How many days are in {MONTHS[month]}?", "answer": number(MONTH_DAYS[month])}
    for _ in range(6):
        start, length = rng.randint(1, 8), rng.randint(2, 4)
        yield {"question": f"A lesson starts at {start} o'clock and lasts {length} hours. "
                           "At what hour does it end?", "answer": number(start + length)}
    for _ in range(6):
        hour, a = rng.randint(1, 11), rng.randrange(0, 30, 5)
        b = a + rng.randrange(10, 30, 5)
        yield {"question": f"How many minutes pass from {hour}:{a:02d} to {hour}:{b:02d}?",
               "answer": number(b - a)}


def choice(rng: random.Random) -> Iterator[Item]:
    for _ in range(16):
        group, *others = rng.sample(sorted(GROUPS), 4)
        options = [rng.choice(GROUPS[group])] + [rng.choice(GROUPS[o]) for o in others]
        rng.shuffle(options)
        right = next(i for i, o in enumerate(options) if o in GROUPS[group])
        yield {"question": f"Which of these is a {group}?", "choices": options, "answer": "ABCD"[right]}
    for _ in range(8):
        options = [str(n) for n in rng.sample(range(2, 100), 4)]
        word = rng.choice(["largest", "smallest"])
        pick = max if word == "largest" else min
        right = options.index(pick(options, key=int))
        yield {"question": f"Which number is the {word}?", "choices": options, "answer": "ABCD"[right]}
    for _ in range(6):
        even = 2 * rng.randint(1, 49)
        options = [str(even)] + [str(2 * rng.randint(0, 49) + 1) for _ in range(3)]
        rng.shuffle(options)
        yield {"question": "Which number is even?", "choices": options,
               "answer": "ABCD"[options.index(str(even))]}


GENERATORS: dict[str, Callable[[random.Random], Iterator[Item]]] = {
    "arithmetic": arithmetic, "comparison": comparison, "units": units, "counting": counting,
    "dates": dates, "choice": choice,
}


def key(item: Item) -> str:
    """What makes two items the same question: its text and its choices."""
    return json.dumps([item["question"], item.get("choices")])


def generated() -> list[Item]:
    """Every generated item with a `gen-<category>-NN` id; duplicates dropped."""
    rng = random.Random(SEED)
    items, seen = [], set()
    for category, make in GENERATORS.items():
        k = 0
        for item in make(rng):
            if key(item) in seen:
                continue
            seen.add(key(item))
            k += 1
            items.append({"id": f"gen-{category}-{k:02d}", "category": category, **item})
    return items


def _rank(item_id: str) -> float:
    """A fixed pseudo-random place in [0, 1) for an id."""
    digest = hashlib.sha256(f"{SEED}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def with_splits(items: list[Item]) -> list[Item]:
    """A third of each category (by a hash of the id) to dev, the rest to test."""
    by_category: dict[str, list[Item]] = {}
    for item in items:
        by_category.setdefault(str(item["category"]), []).append(item)
    dev = set()
    for group in by_category.values():
        ranked = sorted(group, key=lambda it: _rank(str(it["id"])))
        dev.update(str(it["id"]) for it in ranked[: round(len(group) * DEV_SHARE)])
    return [{**item, "split": "dev" if item["id"] in dev else "test"} for item in items]


def build() -> str:
    written = [json.loads(line) for path in SOURCES for line in path.read_text().splitlines() if line.strip()]
    questions = {key(item) for item in written}
    if len(questions) != len(written):
        raise SystemExit("the hand-written sources ask some question twice")
    items = written + [item for item in generated() if key(item) not in questions]
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate ids across the sources")
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in with_splits(items))


def main(argv: list[str]) -> int:
    text = build()
    if argv == ["--check"]:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is not what {Path(__file__).name} builds: rerun it", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} ({text.count(chr(10))} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
