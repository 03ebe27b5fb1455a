"""Chat prompts: a conversation rendered with the model's own template, and
prompt ids with exactly one BOS when the tokenizer wants one."""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast


def bos_on_encode(hf: PreTrainedTokenizerFast) -> bool:
    """Does this tokenizer put a BOS in front of what it encodes?"""
    bos = hf.bos_token_id
    return bos is not None and hf.encode("", add_special_tokens=True)[:1] == [bos]


RAW_COMPLETION_NOTE = ("has no chat template (a base model): prompts run as raw completions "
                       "of the messages' text")


def render_chat(hf: PreTrainedTokenizerFast, messages: list[dict[str, str]],
                add_generation_prompt: bool = True) -> str:
    """The conversation rendered with the model's chat template; for a base
    model without one, the messages' text, blank-line separated, to complete."""
    if hf.chat_template is None:
        return "\n\n".join(m["content"] for m in messages)
    return hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def with_one_bos(ids: list[int], bos: int | None, wanted: bool) -> list[int]:
    """ids with exactly one leading BOS when `wanted` (a template may have written it already)."""
    if wanted and bos is not None and ids[:1] != [bos]:
        return [bos, *ids]
    return ids
