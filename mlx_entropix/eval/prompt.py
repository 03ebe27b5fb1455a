"""The chat messages for one item: identical for every method, so a difference
in accuracy can only come from the decoding. The engine applies the model's
chat template to them (the one public entropix GSM8K comparison did not, and so
measured a broken baseline).

The last line asks for the one form the strict scorer (scoring.py) accepts,
"The answer is" followed by the answer, and names what the answer is in words:
no literal placeholder such as "X" or "<number>" that a small model copies
(under "The answer is X." SmolLM2-135M answered "X" to 28 of 46
multiple-choice items). A word problem whose gold came with a worked solution
(GSM8K's "... #### N") is asked to think step by step first: under the short
form ("End your reply with ...") Qwen2.5-Coder-0.5B answered a GSM8K dev
question in one sentence, under this one it worked through it.
"""

from __future__ import annotations

from .dataset import EvalItem

ANSWER_WORDS = {
    "number": "the final number alone",
    "letter": "the letter of the correct choice",
    "string": "a short answer of a few words",
}


def answer_instruction(kind: str, worked: bool = False) -> str:
    """The closing request; a problem whose gold came with a worked solution
    (GSM8K) asks for the steps first, as its solutions have them."""
    if worked:
        return f'Think step by step. At the end, write "The answer is" followed by {ANSWER_WORDS[kind]}.'
    return f'End your reply with the words "The answer is" followed by {ANSWER_WORDS[kind]}.'


def build_messages(item: EvalItem) -> list[dict[str, str]]:
    lines = [item.question]
    if item.choices:
        lines.append("")
        lines.extend(f"{chr(ord('A') + i)}) {choice}" for i, choice in enumerate(item.choices))
    lines.append("")
    lines.append(answer_instruction(item.kind, item.worked))
    messages = [{"role": "system", "content": item.system}] if item.system else []
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages
