"""The Tokenizer the engine uses: an HF fast tokenizer (rebuilt from a GGUF
file or read from a local folder) with its end ids, chat prompts and a
streaming detokenizer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer
from transformers import PreTrainedTokenizerFast

from ..text import checked_text
from .chat import bos_on_encode, render_chat, with_one_bos
from .detokenizer import StreamingDetokenizer, piece_bytes
from .end_tokens import end_ids, listed_ids
from .gguf_vocab import gguf_end_ids, hf_tokenizer_from_gguf
from .mid_text import mid_text_tokenizer


def hf_tokenizer_from_folder(path: Path) -> PreTrainedTokenizerFast:
    """Load a local HF tokenizer folder offline (tokenizer.json, plus tokenizer_config.json if present)."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer.json in {path}: point at a Hugging Face model folder that has one"
        )
    return PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)


@dataclass
class Tokenizer:
    """What the engine uses: encode, decode, chat prompts, streaming text and every end id."""

    hf: PreTrainedTokenizerFast
    eos_token_ids: frozenset[int]
    _piece_bytes: list[bytes] = field(init=False, repr=False)
    _strip_first_space: bool = field(init=False, repr=False)
    _bos_on_encode: bool = field(init=False, repr=False)
    _mid_text: BackendTokenizer | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._piece_bytes, self._strip_first_space = piece_bytes(self.hf)
        self._bos_on_encode = bos_on_encode(self.hf)
        self._mid_text = mid_text_tokenizer(self.hf.backend_tokenizer)

    @classmethod
    def from_hf(cls, hf: PreTrainedTokenizerFast, extra_eos_ids: Iterable[int] = ()) -> Tokenizer:
        """Wrap an HF tokenizer, finding its end ids (eos, known end-of-turn tokens, the template's)."""
        return cls(hf=hf, eos_token_ids=end_ids(hf, extra_eos_ids))

    @classmethod
    def from_gguf(cls, metadata: dict) -> Tokenizer:
        """The tokenizer of a GGUF file, from the metadata `mx.load(..., return_metadata=True)` gave."""
        return cls.from_hf(hf_tokenizer_from_gguf(metadata), gguf_end_ids(metadata))

    @classmethod
    def from_folder(cls, path: Path) -> Tokenizer:
        """The tokenizer of a local HF model folder; generation_config.json's eos ids count as ends too."""
        generation_config = Path(path) / "generation_config.json"
        extra = []
        if generation_config.is_file():
            extra = listed_ids(json.loads(generation_config.read_text()).get("eos_token_id"))
        return cls.from_hf(hf_tokenizer_from_folder(path), extra)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` as is: no BOS/EOS added (special-token text still maps to its id).
        Text that is not valid Unicode is refused with a TextError (a ValueError)."""
        return self.hf.encode(checked_text(text, "the text"), add_special_tokens=False)

    def encode_mid_text(self, text: str) -> list[int]:
        """Token ids of `text` inserted in the middle of a text (the think text):
        no leading space added, as SentencePiece-style tokenizers add at the start."""
        if self._mid_text is None:
            return self.encode(text)
        return self._mid_text.encode(checked_text(text, "the text"), add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens included, with no space clean-up (so streaming matches it)."""
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    @property
    def has_chat_template(self) -> bool:
        return self.hf.chat_template is not None

    def chat_prompt(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The conversation rendered with the model's chat template."""
        return render_chat(self.hf, messages, add_generation_prompt)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The rendered chat prompt's ids with exactly one BOS when the tokenizer wants one (never two)."""
        return with_one_bos(self.encode(self.chat_prompt(messages)), self.hf.bos_token_id,
                            self._bos_on_encode)

    def raw_prompt_tokens(self, text: str) -> list[int]:
        """A raw prompt's ids (no chat template) with exactly one BOS when the
        tokenizer wants one, as mlx-lm encodes string prompts."""
        return with_one_bos(self.encode(text), self.hf.bos_token_id, self._bos_on_encode)

    def token_text(self, token_id: int) -> str:
        """One token's own text for displays; bytes of a partial character show as \\xNN escapes."""
        return self._piece_bytes[token_id].decode("utf-8", errors="backslashreplace")

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes one token contributes to the text."""
        return self._piece_bytes[token_id]

    def detokenizer(self) -> StreamingDetokenizer:
        """A fresh streaming detokenizer for one generated answer."""
        return StreamingDetokenizer(self._piece_bytes, self._strip_first_space)
