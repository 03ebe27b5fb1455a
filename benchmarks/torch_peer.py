"""The peer a Linux user would pick instead: PyTorch + transformers on the same
embedded GGUF, greedy, and optillm's `entropy_decode` (an entropix port).

Not a project dependency: run it in a separate environment (README, Speed):

    python -m venv .peer && .peer/bin/pip install torch==2.13.0 transformers==5.23.0 gguf==0.19.0 accelerate==1.13.0
    .peer/bin/pip install --no-deps optillm==0.4.0
    .peer/bin/python benchmarks/torch_peer.py "$(uv run python -c 'from mlx_entropix.load import embedded_gguf_path; print(embedded_gguf_path())')"

It prints one JSON object: prompt tok/s (prompt tokens over the time until the
call's own first forward pass returns, seen by a forward hook) and decode tok/s
((n - 1) tokens over the time after it), medians of the rounds, for greedy
`generate` and for `entropy_decode` (loaded from its file: optillm's package
__init__ starts its server dependencies), each timed in its own call.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper who finds a "
                                        "message in a bottle and decides to answer it."}]


def entropy_decoder():
    """optillm's entropy_decode, from its file: the package's __init__ starts its server."""
    path = Path(importlib.util.find_spec("optillm").submodule_search_locations[0]) / "entropy_decoding.py"
    spec = importlib.util.spec_from_file_location("optillm_entropy_decoding", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.entropy_decode


class Timed:
    """Times one generation call from outside: its first forward pass (the
    prompt) through a forward hook on the model, the rest as decoding."""

    def __init__(self, model) -> None:
        self.ends: list[float] = []
        model.register_forward_hook(lambda module, args, output: self.ends.append(time.perf_counter()))

    def __call__(self, generate):
        """(result, prompt seconds, decode seconds) of `generate()`."""
        self.ends.clear()
        start = time.perf_counter()
        result = generate()
        end = time.perf_counter()
        return result, self.ends[0] - start, end - self.ends[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gguf", type=Path, help="the embedded SmolLM2-135M-Instruct GGUF file")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folder, name = str(args.gguf.parent), args.gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt").input_ids
    decode = entropy_decoder()
    rows: dict[str, dict[str, list[float]]] = {"greedy": {"prompt_tps": [], "decode_tps": []},
                                               "entropy_decode": {"prompt_tps": [], "decode_tps": []}}
    timed = Timed(model)
    for _ in range(args.rounds):
        with torch.no_grad():
            out, prompt_s, decode_s = timed(lambda: model.generate(
                ids, max_new_tokens=args.max_tokens, do_sample=False, min_new_tokens=args.max_tokens))
        n = out.shape[1] - ids.shape[1]
        rows["greedy"]["prompt_tps"].append(ids.shape[1] / prompt_s)
        rows["greedy"]["decode_tps"].append((n - 1) / max(decode_s, 1e-9))

        answer, prompt_s, decode_s = timed(lambda: decode(model, tokenizer, MESSAGES,
                                                          max_new_tokens=args.max_tokens))
        n = len(tokenizer.encode(answer, add_special_tokens=False))
        rows["entropy_decode"]["prompt_tps"].append(ids.shape[1] / prompt_s)
        rows["entropy_decode"]["decode_tps"].append((n - 1) / max(decode_s, 1e-9))
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "prompt_tokens": ids.shape[1],
                      "max_tokens": args.max_tokens, "rounds": args.rounds,
                      **{k: {f: statistics.median(v) for f, v in row.items()} for k, row in rows.items()}},
                     indent=1))


if __name__ == "__main__":
    main()
