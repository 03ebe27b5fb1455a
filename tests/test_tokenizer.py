import json
from pathlib import Path

import mlx.core as mx
import pytest
from mlx_lm.tokenizer_utils import TokenizerWrapper
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mlx_entropix.tokenizer import (
    Tokenizer,
    hf_tokenizer_from_folder,
    hf_tokenizer_from_gguf,
)

SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

TEXTS = [
    "Hello, world! This is plain ASCII.",
    "café naïve Ångström",
    "emoji 🙂🚀 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 skin 👍🏽",
    "日本語のテキスト 中文 한국어",
    "  leading spaces\n\n\ttabs\r\nCRLF   trailing  ",
    "digits 0123456789 and 3.14159, 2024-11-26",
    "mixed: x² ≤ ∞ — «quotes» “curly” ¿qué?",
]


@pytest.fixture(scope="session")
def smollm2_metadata(embedded_gguf_path: Path) -> dict:
    _, metadata = mx.load(str(embedded_gguf_path), return_metadata=True)
    return metadata


@pytest.fixture(scope="session")
def smollm2(smollm2_metadata: dict) -> Tokenizer:
    return Tokenizer.from_gguf(smollm2_metadata)


def stream(tok: Tokenizer, ids: list[int]) -> list[str]:
    detok = tok.detokenizer()
    return [detok.add(i) for i in ids] + [detok.finalize()]


def test_embedded_model_is_found(embedded_gguf_path: Path):
    assert embedded_gguf_path.suffix == ".gguf" and embedded_gguf_path.stat().st_size > 50_000_000


def test_gguf_tokenizer_is_a_real_fast_tokenizer(smollm2: Tokenizer):
    hf = smollm2.hf
    assert isinstance(hf, PreTrainedTokenizerFast)
    assert (hf.bos_token, hf.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert hf.chat_template.startswith("{% for message in messages %}")
    assert len(hf) == 49152


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_and_streaming(smollm2: Tokenizer, text: str):
    ids = smollm2.encode(text)
    assert smollm2.decode(ids) == text
    deltas = stream(smollm2, ids)
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


def test_streaming_holds_back_partial_characters(smollm2: Tokenizer):
    ids = smollm2.encode("🙂")
    assert len(ids) > 1
    assert stream(smollm2, ids) == [""] * (len(ids) - 1) + ["🙂", ""]


def test_every_token_streams_like_hf_decodes_it(smollm2: Tokenizer):
    singles = [[i] for i in range(len(smollm2.hf))]
    expected = smollm2.hf.backend_tokenizer.decode_batch(singles, skip_special_tokens=False)
    assert ["".join(stream(smollm2, ids)) for ids in singles] == expected


def test_chat_tokens_are_single_special_ids(smollm2: Tokenizer):
    assert smollm2.encode("<|im_start|>") == [1]
    assert smollm2.encode("<|im_end|>") == [2]
    assert smollm2.encode("<|im_start|>user\nHi<|im_end|>") == [1, *smollm2.encode("user\nHi"), 2]


def test_end_ids(smollm2: Tokenizer):
    assert 2 in smollm2.eos_token_ids  # <|im_end|>: eos and the template's end of turn
    assert 0 in smollm2.eos_token_ids  # <|endoftext|>
    assert 1 not in smollm2.eos_token_ids  # <|im_start|>


def test_chat_template_default_system_prompt(smollm2: Tokenizer):
    assert smollm2.chat_prompt([{"role": "user", "content": "Hi"}]) == (
        f"<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chat_template_given_system_prompt(smollm2: Tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert smollm2.chat_prompt(messages, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )


def test_prompt_tokens_add_nothing_to_the_template(smollm2: Tokenizer):
    messages = [{"role": "user", "content": "Hi"}]
    ids = smollm2.prompt_tokens(messages)
    assert ids == smollm2.encode(smollm2.chat_prompt(messages))
    assert ids[:2] == [1, smollm2.encode("system")[0]]
    assert ids.count(1) == 3  # one <|im_start|> per turn, none added


def test_digits_are_split_one_per_token(smollm2: Tokenizer):
    assert smollm2.hf.convert_ids_to_tokens(smollm2.encode("12345")) == ["1", "2", "3", "4", "5"]
    assert smollm2.hf.convert_ids_to_tokens(smollm2.encode(" 2024")) == ["Ġ", "2", "0", "2", "4"]
    assert smollm2.hf.convert_ids_to_tokens(smollm2.encode("Hello world")) == ["Hello", "Ġworld"]


def test_token_text(smollm2: Tokenizer):
    assert smollm2.token_text(smollm2.encode(" world")[0]) == " world"
    assert smollm2.token_text(2) == "<|im_end|>"
    partial = smollm2.token_text(smollm2.encode("🙂")[0])
    assert "\\x" in partial and "\ufffd" not in partial


def test_mlx_lm_wrapper_accepts_it(smollm2: Tokenizer):
    wrapper = TokenizerWrapper(smollm2.hf, eos_token_ids=smollm2.eos_token_ids)
    assert wrapper.eos_token_ids >= {0, 2}
    detok = wrapper.detokenizer
    detok.reset()
    for i in smollm2.encode(TEXTS[2]):
        detok.add_token(i)
    detok.finalize()
    assert detok.text == TEXTS[2]


def test_detokenizer_rejects_unknown_ids(smollm2: Tokenizer):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        smollm2.detokenizer().add(10**6)


def test_unsupported_model_type_is_a_one_line_error(smollm2_metadata: dict):
    with pytest.raises(ValueError, match="unsupported GGUF tokenizer.ggml.model 't5'") as err:
        hf_tokenizer_from_gguf({**smollm2_metadata, "tokenizer.ggml.model": "t5"})
    assert "\n" not in str(err.value)


# --- hand-built SentencePiece-style ('llama') vocabulary ---------------------------------------

SPM_PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "[", "]", "u", "s",
              "he", "ll", "▁he", "llo", "▁hello", "▁w", "or", "▁wor", "ld", "▁world"]  # fmt: skip


def spm_metadata(template: str | None = None) -> dict:
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *SPM_PIECES]
    n_chars = 12  # single characters score lowest, so only the merges below build words
    merged_scores = [-float(rank) for rank in range(len(SPM_PIECES) - n_chars)]
    metadata = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [2, 3, 3, *[6] * 256, *[1] * len(SPM_PIECES)],
        "tokenizer.ggml.scores": [0.0] * 259 + [-1000.0] * n_chars + merged_scores,
        "tokenizer.ggml.bos_token_id": mx.array(1, dtype=mx.uint32),
        "tokenizer.ggml.eos_token_id": mx.array(2, dtype=mx.uint32),
        "tokenizer.ggml.unknown_token_id": mx.array(0, dtype=mx.uint32),
    }
    if template is not None:
        metadata["tokenizer.chat_template"] = template
    return metadata


@pytest.mark.parametrize("text", ["hello world", "  hello   world ", "héllo 😀 world\n", *TEXTS])
def test_spm_round_trip_and_streaming(text: str):
    tok = Tokenizer.from_gguf(spm_metadata())
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    deltas = stream(tok, ids)
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


def test_spm_merges_follow_scores_and_bytes_fall_back():
    tok = Tokenizer.from_gguf(spm_metadata())
    assert tok.hf.convert_ids_to_tokens(tok.encode("hello world")) == ["▁hello", "▁world"]
    assert tok.hf.convert_ids_to_tokens(tok.encode("hé")) == ["▁", "h", "<0xC3>", "<0xA9>"]
    assert tok.token_text(tok.encode("hello")[0]) == " hello"
    assert tok.eos_token_ids == {2}


@pytest.mark.parametrize(
    "template",
    [
        "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}",
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}",
    ],
)
def test_spm_prompt_has_exactly_one_bos(template: str):
    tok = Tokenizer.from_gguf(spm_metadata(template))
    ids = tok.prompt_tokens([{"role": "user", "content": "hello"}])
    assert ids[0] == 1 and ids.count(1) == 1
    assert tok.decode(ids[1:]).endswith("[user] hello")


def test_without_chat_template_messages_are_a_raw_completion():
    tok = Tokenizer.from_gguf(spm_metadata())
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    assert not tok.has_chat_template
    assert tok.chat_prompt(messages) == "be brief\n\nhello"
    assert tok.prompt_tokens(messages) == tok.raw_prompt_tokens("be brief\n\nhello")


# --- hand-built byte-level vocabulary: the pre-tokenizer follows tokenizer.ggml.pre ------------


def byte_level_metadata(pre: str) -> dict:
    specials = ["<|begin_of_text|>", "<|eot_id|>"]
    words = ["12", "123", "45", "12345"]
    tokens = [*specials, *sorted(pre_tokenizers.ByteLevel.alphabet()), *words]
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": mx.array([3, 3] + [1] * (len(tokens) - 2), dtype=mx.int32),
        "tokenizer.ggml.merges": ["1 2", "12 3", "4 5", "123 45"],
        "tokenizer.ggml.bos_token_id": mx.array(0, dtype=mx.uint32),
        "tokenizer.ggml.eos_token_id": mx.array(1, dtype=mx.uint32),
        "tokenizer.chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}<|eot_id|>{% endfor %}",
    }


@pytest.mark.parametrize(
    ("pre", "pieces"),
    [("smollm", ["1", "2", "3", "4", "5"]), ("llama-bpe", ["123", "45"]), ("gpt2", ["12345"]), ("default", ["12345"])],
)
def test_pre_tokenizer_follows_gguf_pre(pre: str, pieces: list[str]):
    hf = hf_tokenizer_from_gguf(byte_level_metadata(pre))
    assert hf.convert_ids_to_tokens(hf.encode("12345", add_special_tokens=False)) == pieces


def test_llama3_style_prompt_has_one_bos():
    tok = Tokenizer.from_gguf(byte_level_metadata("llama-bpe"))
    ids = tok.prompt_tokens([{"role": "user", "content": "12345"}])
    assert ids == [0, *tok.hf.convert_tokens_to_ids(["123", "45"]), 1]
    assert tok.eos_token_ids == {1}
    assert tok.encode("<|begin_of_text|>") == [0]


def test_unknown_pre_warns_and_uses_gpt2_split():
    with pytest.warns(UserWarning, match="unknown GGUF tokenizer.ggml.pre 'mystery'"):
        hf = hf_tokenizer_from_gguf(byte_level_metadata("mystery"))
    assert hf.convert_ids_to_tokens(hf.encode("12345", add_special_tokens=False)) == ["12345"]


# --- a local Hugging Face folder ----------------------------------------------------------------


def write_hf_folder(folder: Path) -> None:
    backend = BackendTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|begin|>", "<|end|>", "<|turn_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(["hello world, the quick brown fox", "café naïve Ångström"] * 20, trainer=trainer)
    backend.save(str(folder / "tokenizer.json"))
    config = {
        "bos_token": "<|begin|>",
        "eos_token": "<|end|>",
        "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|turn_end|>{% endfor %}",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def test_hf_folder_loads(tmp_path: Path):
    write_hf_folder(tmp_path)
    hf = hf_tokenizer_from_folder(tmp_path)
    assert isinstance(hf, PreTrainedTokenizerFast)
    assert (hf.bos_token, hf.eos_token) == ("<|begin|>", "<|end|>")
    tok = Tokenizer.from_folder(tmp_path)
    turn_end = hf.convert_tokens_to_ids("<|turn_end|>")
    assert tok.eos_token_ids == {hf.eos_token_id, turn_end}
    for text in ["hello world", *TEXTS]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text == "".join(stream(tok, ids))
    ids = tok.prompt_tokens([{"role": "user", "content": "hello"}])
    assert ids[0] == hf.bos_token_id and ids[-1] == turn_end and ids.count(hf.bos_token_id) == 1


def test_hf_folder_generation_config_adds_end_ids(tmp_path: Path):
    write_hf_folder(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [1, 0]}))
    assert Tokenizer.from_folder(tmp_path).eos_token_ids >= {0, 1}


def test_hf_folder_without_tokenizer_json(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        hf_tokenizer_from_folder(tmp_path)


def test_hf_folder_with_metaspace_decoder(tmp_path: Path):
    hf = hf_tokenizer_from_gguf(spm_metadata())
    backend = hf.backend_tokenizer
    backend.normalizer = None
    backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(prepend_scheme="first")])
    hf.save_pretrained(tmp_path)
    tok = Tokenizer.from_folder(tmp_path)
    for text in ["hello world", "héllo 😀  world ", " hello"]:
        ids = tok.encode(text)
        assert "".join(stream(tok, ids)) == tok.decode(ids)
        # Metaspace adds no ▁ to text that starts with a space, yet strips one when decoding.
        assert tok.decode(ids) == (text[1:] if text.startswith(" ") else text)

