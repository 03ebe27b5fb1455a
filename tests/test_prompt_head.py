"""prompt_head.py: the chat template's head is found from the template alone,
prefilled as a pass of its own by the lone engine and the batch generator
alike, reused across prompts, and a prompt's cache is bit for bit the same
whichever way it was reached."""

import numpy as np
from mlx_lm.models.cache import RotatingKVCache

from mlx_entropix.batch import BatchGenerator
from mlx_entropix.engine import Engine
from mlx_entropix.prompt_cache import PromptCache
from mlx_entropix.prompt_head import head_length, template_head
from mlx_entropix.requests import GenerationOptions
from mlx_entropix.sampler import get_preset

QUESTIONS = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
             "How many clips did Natalia sell altogether in April and May? Think step by step, and write "
             "the answer at the end after the words The answer is.",
             "Weng earns $12 an hour for babysitting. How much did she earn?")


def chat(lm, text: str, system: str | None = None) -> list[int]:
    messages = [{"role": "system", "content": system}] if system else []
    return lm.tokenizer.prompt_tokens(messages + [{"role": "user", "content": text}])


def test_the_head_is_the_template_before_the_users_text(lm):
    head = lm.prompt_head
    assert len(head) >= 4
    assert lm.tokenizer.decode(list(head)).rstrip().endswith("user")
    for q in QUESTIONS + ("x",):
        ids = chat(lm, q)
        assert tuple(ids[:len(head)]) == head
        assert head_length(ids, head) == len(head)
    assert head_length(chat(lm, QUESTIONS[0], system="You answer in French."), head) == 0


def test_head_length_cases():
    head = (5, 6, 7)
    assert head_length([5, 6, 7, 8], head) == 3
    assert head_length([5, 6, 7], head) == 0  # nothing after the head: one pass
    assert head_length([5, 6, 8, 9], head) == 0
    assert head_length([5, 6, 7, 8], ()) == 0


def test_no_head_without_a_template_or_with_a_window(lm):
    class Plain:
        has_chat_template = False

    assert template_head(Plain(), lm.model.make_cache()) == ()
    assert template_head(lm.tokenizer, [RotatingKVCache(max_size=64)]) == ()


def test_the_lone_engine_prefills_the_head_in_a_pass_of_its_own(lm, forward_shapes):
    shapes = forward_shapes(lm)
    prompt = chat(lm, QUESTIONS[1])
    Engine(lm, get_preset("greedy"), GenerationOptions()).prefill(prompt, lm.model.make_cache())
    assert [s[1] for s in shapes] == [len(lm.prompt_head), len(prompt) - 1 - len(lm.prompt_head)]


def test_a_batch_reuses_the_head_and_gives_the_lone_prefills_cache(lm, forward_shapes):
    """Prompts longer than the split matmul kernel's 64 rows: one pass would
    run on OpenBLAS, the head and the rest on the kernel, and round otherwise,
    so a batch that skipped the split would differ from the lone engine."""
    prompts = [chat(lm, q) for q in QUESTIONS]
    assert len(prompts[0]) - 1 > 64 >= len(prompts[0]) - 1 - len(lm.prompt_head)
    gen = BatchGenerator(lm, max_batch=4)
    shapes = forward_shapes(lm)
    caches = gen._prompt_caches(prompts)
    n = len(lm.prompt_head)
    assert sorted(s[1] for s in shapes) == sorted([n] + [len(p) - 1 - n for p in prompts])
    head_cache = gen._template_cache()
    head_keys = [np.array(c.keys[..., :c.offset, :]) for c in head_cache]
    engine = Engine(lm, get_preset("greedy"), GenerationOptions())
    for prompt, cache in zip(prompts, caches):
        lone = lm.model.make_cache()
        engine.prefill(prompt, lone)
        for a, b in zip(lone, cache):
            assert a.offset == b.offset == len(prompt) - 1
            assert np.array_equal(np.array(a.keys[..., :a.offset, :]), np.array(b.keys[..., :b.offset, :]))
            assert np.array_equal(np.array(a.values[..., :a.offset, :]), np.array(b.values[..., :b.offset, :]))
    # A third prompt continues the kept head: one pass, and the head's entry is untouched.
    shapes.clear()
    gen._prompt_caches([chat(lm, "Name a prime number.")])
    assert len(shapes) == 1
    for c, keys in zip(gen._template_cache(), head_keys):
        assert np.array_equal(np.array(c.keys[..., :c.offset, :]), keys)


def test_the_head_is_kept_even_with_the_prompt_cache_off(lm, forward_shapes):
    """The server's --prompt-cache-tokens 0 keeps no prompt across requests,
    but the generator keeps the head: one head pass for all of them."""
    gen = BatchGenerator(lm, max_batch=4, prompt_cache=PromptCache(0))
    shapes = forward_shapes(lm)
    prompts = [chat(lm, q) for q in QUESTIONS]
    n = len(lm.prompt_head)
    gen._prompt_caches(prompts)
    assert [s[1] for s in shapes] == [n] + [len(p) - 1 - n for p in prompts]
    shapes.clear()
    gen._prompt_caches(prompts)  # later requests: no prompt kept, the head still is
    assert [s[1] for s in shapes] == [len(p) - 1 - n for p in prompts]
    assert len(gen.prompts) == 0
