"""Which token ids end a generation, found from the tokenizer itself: its eos,
the special tokens llama.cpp treats as end of generation, and the token the
chat template puts after an assistant turn. No model name is hard-coded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jinja2
from transformers import PreTrainedTokenizerFast

# Token texts that end generation wherever they are special tokens (llama.cpp's list).
END_OF_GENERATION_TEXTS = frozenset(
    {
        "<|eot_id|>",
        "<|eom_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|end_of_text|>",
        "<EOT>",
        "<end_of_utterance>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
    }
)


def _template_end_of_turn(hf: PreTrainedTokenizerFast) -> int | None:
    """The special token a chat template puts right after an assistant message, if any.

    Found by rendering a tiny conversation, so no model name is hard-coded:
    <|im_end|> for ChatML, <|eot_id|> for Llama 3.
    """
    if hf.chat_template is None:
        return None
    marker = "ENTROPIX_END_OF_TURN_PROBE"
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    try:
        rendered = hf.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)
    except (jinja2.TemplateError, KeyError, IndexError, TypeError, ValueError):
        return None
    at = rendered.rfind(marker)
    if at < 0:
        return None
    tail = rendered[at + len(marker) :].lstrip()
    ids = hf.encode(tail, add_special_tokens=False)[:1]
    return ids[0] if ids and ids[0] in _special_ids(hf) else None


def _special_ids(hf: PreTrainedTokenizerFast) -> dict[int, str]:
    """Every special added token (`all_special_ids` only knows the named ones like bos/eos)."""
    return {i: token.content for i, token in hf.added_tokens_decoder.items() if token.special}


def end_ids(hf: PreTrainedTokenizerFast, extra: Iterable[int]) -> frozenset[int]:
    ends = set(extra)
    if hf.eos_token_id is not None:
        ends.add(hf.eos_token_id)
    ends.update(i for i, text in _special_ids(hf).items() if text in END_OF_GENERATION_TEXTS)
    if (turn_end := _template_end_of_turn(hf)) is not None:
        ends.add(turn_end)
    return frozenset(ends)


def listed_ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


