"""Raw prompts get the BOS mlx-lm gives them, and inserted text (the think
text) is encoded as it reads in the middle of a text, for both kinds of GGUF
tokenizer: byte-level BPE (SmolLM2's own, Llama 3 style) and SentencePiece."""

import mlx.core as mx
import pytest
from mlx_lm.generate import stream_generate as mlx_lm_stream_generate
from mlx_lm.tokenizer_utils import TokenizerWrapper

from mlx_entropix.tokenizer import Tokenizer
from tests.test_tokenizer import (  # noqa: F401 (session fixtures)
    byte_level_metadata,
    smollm2,
    smollm2_metadata,
    spm_metadata,
    stream,
)

THINK_TEXTS = [" ...", " Wait,", "\nHmm, ", "hello", "é"]


@pytest.fixture(params=["smollm2", "llama3", "spm"])
def tok(request, smollm2) -> Tokenizer:  # noqa: F811
    if request.param == "smollm2":
        return smollm2
    metadata = byte_level_metadata("llama-bpe") if request.param == "llama3" else spm_metadata()
    return Tokenizer.from_gguf(metadata)


class PromptSpy:
    """What mlx-lm feeds a model: every call's token ids (the logits are flat)."""

    def __init__(self, vocab: int):
        self.vocab, self.calls = vocab, []

    def make_cache(self) -> list:
        return []

    def __call__(self, tokens: mx.array, cache: list | None = None) -> mx.array:
        self.calls.append(tokens[0].tolist())
        return mx.zeros((1, tokens.shape[1], self.vocab))


def mlx_lm_prompt(tok: Tokenizer, text: str) -> list[int]:
    """The ids mlx-lm's own stream_generate makes of a string prompt."""
    spy = PromptSpy(len(tok.hf))
    for _ in mlx_lm_stream_generate(spy, TokenizerWrapper(tok.hf), text, max_tokens=1):
        pass
    return [t for call in spy.calls[:-1] for t in call]  # the last call feeds the generated token


@pytest.mark.parametrize("bos_text", [False, True])
def test_raw_prompt_ids_are_the_ones_mlx_lm_makes(tok, bos_text):
    text = (tok.hf.bos_token if bos_text else "") + "12 hello"
    assert tok.raw_prompt_tokens(text) == mlx_lm_prompt(tok, text)


@pytest.mark.parametrize("metadata", [byte_level_metadata("llama-bpe"), spm_metadata()],
                         ids=["llama3", "spm"])
def test_a_tokenizer_with_a_bos_puts_exactly_one_before_a_raw_prompt(metadata):
    tok = Tokenizer.from_gguf(metadata)
    bos = tok.hf.bos_token_id
    for text in ("12 hello", tok.hf.bos_token + "12 hello"):
        ids = tok.raw_prompt_tokens(text)
        assert ids[0] == bos and ids.count(bos) == 1, ids


@pytest.mark.parametrize("think", THINK_TEXTS)
def test_inserted_text_is_encoded_as_it_reads_mid_text(tok, think):
    ids = tok.encode_mid_text(think)
    assert b"".join(tok.token_bytes(i) for i in ids) == think.encode()
    # The tokenizer itself, encoding a sentence with the text in its middle, agrees.
    assert tok.encode("hello" + think) == tok.encode("hello") + ids
    assert "".join(stream(tok, tok.encode("hello") + ids)) == "hello" + think


def test_spm_start_of_text_encoding_would_add_a_second_space():
    tok = Tokenizer.from_gguf(spm_metadata())
    assert b"".join(tok.token_bytes(i) for i in tok.encode(" ...")) == b"  ..."
    assert b"".join(tok.token_bytes(i) for i in tok.encode_mid_text(" ...")) == b" ..."
