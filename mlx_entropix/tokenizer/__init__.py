"""Prompt -> tokens -> text: the model's tokenizer, rebuilt from GGUF metadata
(gguf_vocab) or read from a folder (core), its end ids (end_tokens), chat
prompts (chat) and streaming detokenization (detokenizer)."""

from .core import Tokenizer, hf_tokenizer_from_folder
from .detokenizer import StreamingDetokenizer
from .gguf_vocab import hf_tokenizer_from_gguf

__all__ = ["StreamingDetokenizer", "Tokenizer", "hf_tokenizer_from_folder", "hf_tokenizer_from_gguf"]
