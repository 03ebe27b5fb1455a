"""The chat messages for one item: identical for every method, so a difference
in accuracy can only come from the decoding. The engine applies the model's
chat template to them (the one public entropix GSM8K comparison did not, and so
measured a broken baseline).

The last line asks for the one form the strict scorer (scoring.py) accepts,
"The answer is" followed by the answer, and names what the answer is in words:
no literal placeholder such as "X" or "<number>" that a small model copies
(under "The answer is X." SmolLM2-135M answered "X" to 28 of 46
multiple-choice items).
"""

from __future__ import annotations

from .dataset import EvalItem

ANSWER_WORDS = {
    "number": "the final number alone",
    "letter": "the letter of the correct choice",
    "string": "a short answer of a few words",
}


def answer_instruction(kind: str) -> str:
    return f'End your reply with the words "The answer is" followed by {ANSWER_WORDS[kind]}.'


def build_messages(item: EvalItem) -> list[dict[str, str]]:
    lines = [item.question]
    if item.choices:
        lines.append("")
        lines.extend(f"{chr(ord('A') + i)}) {choice}" for i, choice in enumerate(item.choices))
    lines.append("")
    lines.append(answer_instruction(item.kind))
    messages = [{"role": "system", "content": item.system}] if item.system else []
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages
