"""Streaming detokenization: token ids to text deltas in O(1) per token.

Each token's bytes are computed once from the tokenizer's decoder (byte-level
BPE or SentencePiece with byte fallback), then fed to an incremental UTF-8
decoder, so a multi-byte character is never split and a step never re-decodes
the text so far.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence

from transformers import PreTrainedTokenizerFast

SPIECE_SPACE = "\u2581"  # SentencePiece's visible space, "▁"


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


def piece_bytes(hf: PreTrainedTokenizerFast) -> tuple[list[bytes], bool]:
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


