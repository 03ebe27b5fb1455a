"""mlx-lm's side of the sync budget is measured, not computed: its blocking
calls are counted while its generator runs."""

import mlx.core as mx
from mlx_lm.tokenizer_utils import TokenizerWrapper
from tokenizers import Tokenizer as RawTokenizer
from tokenizers import decoders, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from mlx_entropix.bench.measure import measure
from mlx_entropix.bench.variants import mlx_lm_variant
from mlx_entropix.sync import SyncCounter, observed_syncs
from tests.llama_fixtures import mlx_lm_model, random_weights, tiny_config

WORDS = ["<s>", "</s>"] + [f"▁w{i}" for i in range(94)]


def tiny_mlx_lm():
    raw = RawTokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="▁w0"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    hf = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="<s>")
    config = tiny_config(vocab_size=len(WORDS))
    return mlx_lm_model(random_weights(config, seed=4), config), TokenizerWrapper(hf)


def test_observed_syncs_count_waits_not_reads_of_computed_arrays():
    syncs = SyncCounter()
    a, b = mx.arange(3) + 1, mx.arange(2) * 2
    with observed_syncs(syncs):
        mx.eval([a])
        assert a.tolist() == [1, 2, 3]  # already computed by the eval: no wait
        assert b.tolist() == [0, 2]  # a wait
        assert a.sum().item() == 6  # a wait
    assert syncs.total == 3
    assert (mx.arange(2) + 1).tolist() == [1, 2]
    assert syncs.total == 3, "counting went on after the block"


def test_mlx_lm_syncs_are_measured_one_prefill_wait_then_one_per_token():
    model, tokenizer = tiny_mlx_lm()
    prompt = list(range(2, 22))
    run = measure(mlx_lm_variant(model, tokenizer).stream, prompt, 6)
    assert run.generated == 6
    assert run.prefill_syncs == 1  # 19 prompt tokens: one chunk, one mx.eval of the cache
    assert run.decode_syncs == run.generated


def test_every_kind_of_host_read_is_seen():
    import numpy as np

    syncs = SyncCounter()
    with observed_syncs(syncs):
        for read in (lambda a: a.item(), lambda a: a.tolist(), float, int, bool, np.array, np.asarray,
                     lambda a: np.array(a, copy=False)):
            read(mx.array(3) + 1)
        np.array([1, 2])  # numpy data: no device read
    assert syncs.total == 8
