"""The HF tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata.

A GGUF file carries its whole vocabulary, so the embedded model needs no hub
and no torch: the `tokenizers` pipeline is assembled here to match what
llama.cpp and the model's own HF tokenizer do (byte-level BPE with the right
pre-tokenizer regex, or SentencePiece-style BPE with byte fallback). The
result is a real `PreTrainedTokenizerFast`, so mlx-lm accepts it as is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as BackendTokenizer
from transformers import PreTrainedTokenizerFast

from .detokenizer import SPIECE_SPACE

# GGUF token types (llama.cpp's llama_token_type).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 2, 3, 4

# Llama 3's split: up to three digits per piece, letters with one leading non-letter.
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2's split: like Llama 3 but one digit per piece.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class _PreTokenization:
    """How a byte-level BPE vocabulary splits text before merging."""

    digits_one_by_one: bool = False
    split_regex: str | None = None  # None: GPT-2's split, built into ByteLevel(use_regex=True)
    ignore_merges: bool = False
    add_bos: bool = False


_GPT2 = _PreTokenization()
_STARCODER = _PreTokenization(digits_one_by_one=True)
_LLAMA3 = _PreTokenization(split_regex=LLAMA3_REGEX, ignore_merges=True, add_bos=True)
_QWEN2 = _PreTokenization(split_regex=QWEN2_REGEX)

# `tokenizer.ggml.pre` names (as llama.cpp's converter writes them) -> pre-tokenization.
PRE_TOKENIZERS: dict[str, _PreTokenization] = {
    "default": _GPT2,
    "gpt2": _GPT2,
    "gpt-2": _GPT2,
    "smollm": _STARCODER,
    "starcoder": _STARCODER,
    "llama-bpe": _LLAMA3,
    "llama3": _LLAMA3,
    "llama-v3": _LLAMA3,
    "qwen2": _QWEN2,
}

def metadata_value(metadata: dict, key: str, default: Any = None) -> Any:
    """A metadata value as plain Python (GGUF scalars and arrays arrive as mx.array)."""
    value = metadata.get(key)
    if value is None:
        return default
    return value.tolist() if hasattr(value, "tolist") else value


def _token_at(tokens: list[str], metadata: dict, key: str) -> str | None:
    token_id = metadata_value(metadata, key)
    if token_id is None or not 0 <= token_id < len(tokens):
        return None
    return tokens[token_id]


def _byte_level_backend(vocab: dict[str, int], merges: list[str], pre: _PreTokenization) -> BackendTokenizer:
    """GPT-2-style BPE over bytes shown as printable characters."""
    pairs = [tuple(merge.split(" ", 1)) for merge in merges]
    backend = BackendTokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=pre.ignore_merges))
    steps: list[pre_tokenizers.PreTokenizer] = []
    if pre.digits_one_by_one:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    if pre.split_regex is None:
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        steps.append(pre_tokenizers.Split(Regex(pre.split_regex), behavior="isolated"))
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    backend.pre_tokenizer = pre_tokenizers.Sequence(steps)
    backend.decoder = decoders.ByteLevel()
    return backend


def _spm_backend(
    vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str | None, add_space_prefix: bool
) -> BackendTokenizer:
    """SentencePiece-style BPE: spaces become ▁, unknown characters fall back to <0xNN> byte tokens.

    llama.cpp puts one ▁ in front of every run of raw text (also after a special
    token); a Prepend normalizer does the same, since special tokens are split off first.
    """
    backend = BackendTokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=unk_token, fuse_unk=True, byte_fallback=True)
    )
    normalize = [normalizers.Replace(" ", SPIECE_SPACE)]
    decode = [decoders.Replace(SPIECE_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        normalize.insert(0, normalizers.Prepend(SPIECE_SPACE))
        decode.append(decoders.Strip(content=" ", left=1, right=0))
    backend.normalizer = normalizers.Sequence(normalize)
    backend.decoder = decoders.Sequence(decode)
    return backend


def _spm_merges(vocab: dict[str, int], tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's score-driven merging.

    SentencePiece joins the adjacent pair whose joined piece scores highest, so
    every split of a normal piece into two known pieces becomes a merge, ranked
    by the joined piece's score.
    """
    ranked = []
    for token_id, token in enumerate(tokens):
        if types[token_id] not in (TOKEN_NORMAL, TOKEN_USER_DEFINED):
            continue
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[token_id], vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _pre_tokenization(metadata: dict) -> _PreTokenization:
    name = metadata_value(metadata, "tokenizer.ggml.pre", "default")
    pre = PRE_TOKENIZERS.get(name)
    if pre is None:
        warnings.warn(
            f"unknown GGUF tokenizer.ggml.pre {name!r}: using the GPT-2 split; "
            f"tokenization may differ from the model's (known: {', '.join(sorted(PRE_TOKENIZERS))})",
            stacklevel=3,
        )
        return _GPT2
    return pre


def hf_tokenizer_from_gguf(metadata: dict) -> PreTrainedTokenizerFast:
    """Build the model's HF tokenizer from GGUF `tokenizer.ggml.*` metadata (no torch, no files)."""
    kind = metadata_value(metadata, "tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise ValueError(
            f"unsupported GGUF tokenizer.ggml.model {kind!r}: only 'gpt2' (byte-level BPE) and 'llama' (SentencePiece BPE) are supported"
        )
    tokens = metadata_value(metadata, "tokenizer.ggml.tokens")
    if not tokens:
        raise ValueError("GGUF metadata has no tokenizer.ggml.tokens: the file carries no vocabulary")
    types = metadata_value(metadata, "tokenizer.ggml.token_type", [TOKEN_NORMAL] * len(tokens))
    vocab: dict[str, int] = {}
    for token_id, token in enumerate(tokens):
        vocab.setdefault(token, token_id)

    if kind == "gpt2":
        pre = _pre_tokenization(metadata)
        backend = _byte_level_backend(vocab, metadata_value(metadata, "tokenizer.ggml.merges", []), pre)
        add_bos_default = pre.add_bos
    else:
        scores = metadata_value(metadata, "tokenizer.ggml.scores")
        if scores is None:
            raise ValueError("GGUF 'llama' tokenizer has no tokenizer.ggml.scores: cannot rank its merges")
        backend = _spm_backend(
            vocab,
            _spm_merges(vocab, tokens, scores, types),
            _token_at(tokens, metadata, "tokenizer.ggml.unknown_token_id"),
            bool(metadata_value(metadata, "tokenizer.ggml.add_space_prefix", True)),
        )
        add_bos_default = True

    backend.add_tokens(
        [AddedToken(tokens[i], special=False, normalized=False) for i, t in enumerate(types) if t == TOKEN_USER_DEFINED]
    )
    backend.add_special_tokens(
        [
            AddedToken(tokens[i], special=True, normalized=False)
            for i, t in enumerate(types)
            if t in (TOKEN_CONTROL, TOKEN_UNKNOWN)
        ]
    )
    special = {
        name: token
        for name, key in (
            ("bos_token", "tokenizer.ggml.bos_token_id"),
            ("eos_token", "tokenizer.ggml.eos_token_id"),
            ("unk_token", "tokenizer.ggml.unknown_token_id"),
            ("pad_token", "tokenizer.ggml.padding_token_id"),
        )
        if (token := _token_at(tokens, metadata, key)) is not None
    }
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        chat_template=metadata_value(metadata, "tokenizer.chat_template"),
        add_bos_token=bool(metadata_value(metadata, "tokenizer.ggml.add_bos_token", add_bos_default)) and "bos_token" in special,
        add_eos_token=bool(metadata_value(metadata, "tokenizer.ggml.add_eos_token", False)) and "eos_token" in special,
        clean_up_tokenization_spaces=False,
        **special,
    )




def gguf_end_ids(metadata: dict) -> list[int]:
    """The end ids a GGUF file names (eos, end of turn, end of message)."""
    keys = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
    return [metadata_value(metadata, k) for k in keys if metadata_value(metadata, k) is not None]
