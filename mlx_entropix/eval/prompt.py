"""The chat messages for one item: identical for every method, so a difference
in accuracy can only come from the sampler. The engine applies the model's chat
template to them (the one public entropix GSM8K comparison did not, and so
measured a broken baseline)."""

from __future__ import annotations

from .dataset import EvalItem

_WHAT_X_IS = {
    "number": "the number alone",
    "letter": "the letter of the correct choice",
    "string": "a short answer of a few words",
}


def build_messages(item: EvalItem) -> list[dict[str, str]]:
    lines = [item.question]
    if item.choices:
        lines.append("")
        lines.extend(f"{chr(ord('A') + i)}) {choice}" for i, choice in enumerate(item.choices))
    lines.append("")
    lines.append(f'End your reply with "The answer is X." where X is {_WHAT_X_IS[item.kind]}.')
    messages = [{"role": "system", "content": item.system}] if item.system else []
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages
