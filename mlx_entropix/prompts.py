"""Prompt sets: the built-in prompts and prompt CSV files, shared by the CLI
(`--prompts`, `--prompt_csv`) and calibration.

A CSV's header is `name,prompt` plus, optionally, `system` and `expected`.
Names label runs in tables and in the names of trace and plot files, so they
must be unique once reduced to file-name characters.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "data" / "prompts.csv"
REQUIRED_COLUMNS = ("name", "prompt")
OPTIONAL_COLUMNS = ("system", "expected")


class PromptFileError(ValueError):
    """A prompt CSV that cannot be read, naming the line and the problem."""


@dataclass(frozen=True)
class Prompt:
    name: str
    prompt: str
    system: str | None = None
    expected: str | None = None

    def messages(self, default_system: str | None = None) -> list[dict[str, str]]:
        """The chat messages; the prompt's own system message wins over the default."""
        system = self.system or default_system
        head = [{"role": "system", "content": system}] if system else []
        return head + [{"role": "user", "content": self.prompt}]

    def answered(self, text: str) -> bool | None:
        """Does the answer contain the expected text (case-insensitive)? None when no expectation."""
        if not self.expected:
            return None
        return self.expected.casefold() in text.casefold()


# Prompts that exercise the sampler's rules: a known trap for small models, a
# fact, free writing (high entropy), multi-step reasoning and code.
BUILTIN_PROMPTS = (
    Prompt("larger", "Which number is larger, 9.9 or 9.11?", expected="9.9"),
    Prompt("capital", "What is the capital city of Australia?", expected="Canberra"),
    Prompt("story", "Write a four-sentence story about a lighthouse keeper who finds a message in a bottle."),
    Prompt("puzzle", "A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. "
                     "How much does the ball cost?", expected="0.05"),
    Prompt("code", "Write a Python function that returns the n-th Fibonacci number."),
)


def slug(name: str) -> str:
    """A name reduced to characters safe in file names."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def load_prompt_csv(path: Path) -> list[Prompt]:
    """Read a prompt CSV; a bad file raises PromptFileError naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PromptFileError(f"prompt file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise PromptFileError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise PromptFileError(f"{path} is empty; its first line must be the header "
                                  f"{','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
        columns = _check_header(path, [h.strip() for h in header])
        prompts: list[Prompt] = []
        seen: dict[str, int] = {}
        for row in reader:
            if not row or not any(f.strip() for f in row):
                continue
            prompt = _row_prompt(path, reader.line_num, columns, row)
            key = slug(prompt.name)
            if key in seen:
                raise PromptFileError(f"{path} line {reader.line_num}: name {prompt.name!r} is already "
                                      f"used on line {seen[key]}; names must be unique")
            seen[key] = reader.line_num
            prompts.append(prompt)
    except csv.Error as e:
        raise PromptFileError(f"{path} line {reader.line_num}: {e} (quote fields that contain "
                              "commas, quotes or line breaks)") from None
    if not prompts:
        raise PromptFileError(f"{path} has a header but no prompts")
    return prompts


def _check_header(path: Path, header: list[str]) -> list[str]:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    unknown = [h for h in header if h not in known]
    if unknown:
        raise PromptFileError(f"{path} line 1: unknown column {unknown[0]!r}; "
                              f"the header must be name,prompt and optionally system,expected")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise PromptFileError(f"{path} line 1: the header has no {missing[0]!r} column; "
                              f"it must start with name,prompt")
    if len(set(header)) != len(header):
        raise PromptFileError(f"{path} line 1: a column appears twice in the header")
    return header


def _row_prompt(path: Path, line: int, columns: list[str], row: list[str]) -> Prompt:
    if len(row) != len(columns):
        raise PromptFileError(f"{path} line {line}: {len(row)} fields but the header has "
                              f"{len(columns)} (quote fields that contain commas)")
    fields = dict(zip(columns, (f.strip() for f in row)))
    for column in REQUIRED_COLUMNS:
        if not fields[column]:
            raise PromptFileError(f"{path} line {line}: the {column} field is empty")
    if not slug(fields["name"]):
        raise PromptFileError(f"{path} line {line}: name {fields['name']!r} has no letters or digits")
    return Prompt(fields["name"], fields["prompt"], fields.get("system") or None,
                  fields.get("expected") or None)
