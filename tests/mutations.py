"""Mutation checks: each defect README's correctness table says is ruled out is
put back into a scratch copy of the package, and the test the table names must
fail on it ("killed"). A mutation that survives is a test that cannot see the
defect it is cited for.

    uv run python tests/mutations.py            # every mutation; exit 1 if any survives
    uv run python tests/mutations.py -k key     # those whose name contains "key"

Prints one line per mutation and `killed N/N`. The scratch copy is the working
tree's package, tests and data (not the UI); the original tree is never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("mlx_entropix", "tests", "data", "mlx_main.py", "mlx_server.py", "pyproject.toml")


@dataclass(frozen=True)
class Mutation:
    """A defect: `old` replaced by `new` in `path` (each must occur exactly once),
    and the tests (pytest arguments) README names for it."""

    name: str
    row: str  # the correctness table's row it belongs to
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("log-of-softmax", "log(softmax)", "mlx_entropix/metrics.py",
             "return shifted - log_total, entropy, varentropy",
             "return mx.log(weights / total), entropy, varentropy",
             ("tests/test_metrics.py",)),
    Mutation("stats-over-empty-cache-slots", "empty cache slots", "mlx_entropix/model.py",
             "out, exposed = self._attend_exposed(q, k, v, mask)",
             "out, exposed = self._attend_exposed(q, *((cache.keys, cache.values) if cache is not None "
             "else (k, v)), mask)",
             ("tests/test_model.py", "-k", "spare_capacity")),
    Mutation("last-layer-only", "only the last layer", "mlx_entropix/metrics.py",
             "    if layer == -1:\n        head_entropy, head_vent = stats.head_entropy, stats.head_varentropy\n"
             "        agreement, interaction = stats.agreement, stats.interaction\n    else:\n",
             "    layer = stats.head_entropy.shape[1] - 1 if layer == -1 else layer\n    if True:\n",
             ("tests/test_model.py", "-k", "spare_capacity")),
    Mutation("inverted-top-p", "inverted top-p", "mlx_entropix/sampler/filters.py",
             "mass_before = mx.cumsum(probs, axis=-1, inclusive=False)",
             "mass_before = 1 - mx.cumsum(probs, axis=-1, inclusive=True)",
             ("tests/test_sampler_filters.py",)),
    Mutation("min-p-never-applied", "inverted top-p", "mlx_entropix/sampler/filters.py",
             "return mx.where(logprobs >= threshold, logprobs, NEG_INF)", "return logprobs",
             ("tests/test_sampler_filters.py",)),
    Mutation("batch-rows-share-a-key", "one PRNG key", "mlx_entropix/batch.py",
             "subs = split[:, 1]", "subs = mx.broadcast_to(split[:1, 1], split[:, 1].shape)",
             ("tests/test_batch.py", "-k", "draws or think_insertions")),
    Mutation("batch-key-never-advances", "one PRNG key", "mlx_entropix/batch.py",
             "            r.key = split[i, 0]\n", "            pass\n",
             ("tests/test_batch.py", "-k", "draws or think_insertions")),
    Mutation("rollout-key-never-advances", "one PRNG key", "mlx_entropix/batch.py",
             "b.owner.key, keys = mx.random.split(b.owner.key)", "_, keys = mx.random.split(b.owner.key)",
             ("tests/test_batch.py", "-k", "branch_in_one_row")),
    Mutation("same-key-every-step", "one PRNG key", "mlx_entropix/generate.py",
             "key, sub = mx.random.split(key)", "_, sub = mx.random.split(key)",
             ("tests/test_sampler_filters.py", "tests/test_engine_sampling.py", "-k", "key")),
    Mutation("candidate-score-same-for-all", "adaptive candidates", "mlx_entropix/sampler/decide.py",
             "return g * adjusted_logprob - (1 - g) * typicality * atypical",
             "return mx.broadcast_to(g, adjusted_logprob.shape)",
             ("tests/test_sampler_decide.py",)),
    Mutation("med-ent-dead", "dead `med_ent`", "mlx_entropix/sampler/decide.py",
             '"explore": (("varentropy", ">", "high_vent"), ("entropy", "<", "med_ent")),\n'
             '        "resample": (("varentropy", ">", "high_vent"), ("entropy", ">=", "med_ent")),',
             '"explore": (("varentropy", ">", "high_vent"), ("entropy", "<", "high_ent")),\n'
             '        "resample": (("varentropy", ">", "high_vent"), ("entropy", ">=", "high_ent")),',
             ("tests/test_sampler_decide.py",)),
    Mutation("think-without-limit", "thinking", "mlx_entropix/sequence.py",
             "return not fed_inserted and self.think_count < self.engine.cfg.max_think_insertions",
             "return not fed_inserted",
             ("tests/test_engine_sampling.py", "-k", "think")),
    Mutation("extra-host-sync-per-step", "host syncs", "mlx_entropix/engine.py",
             "        logits = logits.astype(mx.float32)\n",
             "        logits = logits.astype(mx.float32)\n        float(logits[0, 0].item())\n",
             ("tests/test_bench.py", "-k", "outside")),
    Mutation("double-bos", "double BOS", "mlx_entropix/tokenizer/chat.py",
             "if wanted and bos is not None and ids[:1] != [bos]:", "if wanted and bos is not None:",
             ("tests/test_tokenizer.py", "-k", "bos or template or prompt_tokens")),
    Mutation("raw-prompt-without-bos", "raw prompts", "mlx_entropix/tokenizer/core.py",
             "return with_one_bos(self.encode(text), self.hf.bos_token_id, self._bos_on_encode)",
             "return self.encode(text)",
             ("tests/test_tokenizer_prompts.py", "-k", "raw")),
    Mutation("think-text-second-space", "second space", "mlx_entropix/tokenizer/core.py",
             "if self._mid_text is None:", "if True:",
             ("tests/test_tokenizer_prompts.py", "-k", "mid_text")),
    Mutation("layer-index-unchecked", "layer index", "mlx_entropix/sampler/config.py",
             "if self.attn_layer >= n_layers:", "if False:",
             ("tests/test_run_checks.py", "-k", "layer")),
    Mutation("blas-loaded-unchecked", "instructions the CPU lacks", "mlx_entropix/blas.py",
             "    why = run_check(path)\n    if why is not None and GFORTRAN in why:",
             "    why = None\n    if why is not None and GFORTRAN in why:",
             ("tests/test_blas.py", "-k", "cannot_run")),
    Mutation("split-kernel-only-for-large-products", "rows beside it", "mlx_entropix/blas_split.c",
             "                                                                                   : KERNEL;",
             "                                                                                   : (long)m * n * k >= GEMM_MIN_WORK ? KERNEL : REAL_GEMM;",
             ("tests/test_blas_split.py", "-k", "alone_or_beside")),
    Mutation("untransposed-kernel-only-for-large-products", "rows beside it", "mlx_entropix/blas_split.c",
             "? KERNEL_NN\n", "? ((long)m * n * k >= GEMM_MIN_WORK ? KERNEL_NN : REAL_GEMM)\n",
             ("tests/test_blas_split.py", "-k", "untransposed")),
    Mutation("template-head-not-split-in-batch", "rows beside it", "mlx_entropix/batch.py",
             "(after_head if head_length(h, template) else whole).append(h)",
             "whole.append(h)",
             ("tests/test_prompt_head.py", "-k", "batch_reuses")),
    Mutation("split-piece-ignores-leading-dimension", "split wrongly", "mlx_entropix/blas_split.c",
             "p.b = b + (tb == NO_TRANS ? (size_t)lo : (size_t)lo * ldb);",
             "p.b = b + (tb == NO_TRANS ? (size_t)lo : (size_t)lo * k);",
             ("tests/test_blas_split.py", "-k", "every_layout")),
    Mutation("split-workers-lost-at-fork", "split wrongly", "mlx_entropix/blas_split.c",
             "    pthread_atfork(NULL, NULL, forget_workers);\n", "",
             ("tests/test_blas_split.py", "-k", "forked")),
    Mutation("split-unbound-in-global-scope", "split wrongly", "mlx_entropix/blas_split.py",
             "        lib = ctypes.CDLL(str(shim))\n",
             "        lib = ctypes.CDLL(str(shim), mode=ctypes.RTLD_GLOBAL)\n",
             ("tests/test_blas_split.py", "-k", "cannot_bind")),
    Mutation("split-behind-openblas", "split wrongly", "mlx_entropix/blas.py",
             "lib = ctypes.CDLL(str(loaded))  # not global yet",
             "lib = ctypes.CDLL(str(loaded), mode=ctypes.RTLD_GLOBAL)  # not global yet",
             ("tests/test_blas_split.py", "-k", "go_through")),
    Mutation("invalid-unicode-accepted", "invalid Unicode", "mlx_entropix/text.py",
             '        text.encode("utf-8")\n    except UnicodeEncodeError as e:',
             '        pass\n    except UnicodeEncodeError as e:',
             ("tests/test_run_checks.py", "tests/test_fuzz.py", "-k", "invalid or text")),
    Mutation("branch-ends-at-decimal-point", "the \".\" of 9.9", "mlx_entropix/boundary.py",
             "return not following[:1].isalnum()", "return True",
             ("tests/test_boundary.py",)),
    Mutation("branch-on-argmax-rows", "branching on sure tokens", "mlx_entropix/sampler/decide.py",
             "branch = (r.explore | both_high) & (outcome != THINK) & (outcome != ARGMAX)",
             "branch = (r.explore | both_high) & (outcome != THINK)",
             ("tests/test_sampler_decide.py",)),
    Mutation("prefill-padding-unmasked", "another row's padding", "mlx_entropix/model.py",
             "mask = cache[0].make_mask(tokens.shape[1])",
             "mask = cache[0].make_mask(1) if tokens.shape[1] == 1 else None",
             ("tests/test_batch.py", "-k", "prefilled_together")),
    Mutation("prefill-rope-at-padded-position", "another row's padding", "mlx_entropix/model.py",
             "        offset = cache.offset if cache is not None else 0\n",
             "        offset = cache.offset if cache is not None else 0\n"
             "        if isinstance(cache, BatchKVCache) and L > 1:\n"
             "            offset = offset + cache.left_padding\n",
             ("tests/test_batch.py", "-k", "prefilled_together")),
    Mutation("sliding-window-ignored", "sliding-window", "mlx_entropix/model.py",
             "        check_sliding_window(config)\n", "",
             ("tests/test_model.py", "-k", "sliding")),
)


def scratch_copy(into: Path) -> Path:
    """The package, its tests and data, copied to `into` (caches left out)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, into / name, ignore=ignore)
        else:
            shutil.copy2(src, into / name)
    return into


def apply(m: Mutation, tree: Path) -> str:
    """Write the mutation into `tree`; returns the file's original text."""
    path = tree / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"mutation {m.name}: {m.path} holds its target {text.count(m.old)} times, "
                         "not once: update the mutation to the code")
    path.write_text(text.replace(m.old, m.new))
    return text


def killed(m: Mutation, tree: Path) -> bool:
    """Do the mutation's tests fail on it? (-x: the first failure settles it.)"""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             *m.tests], cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise SystemExit(f"mutation {m.name}: pytest could not run (exit {result.returncode}):\n{tail}")
    return result.returncode == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.k in m.name]
    start = time.perf_counter()
    survivors = []
    with tempfile.TemporaryDirectory(prefix="mlx-entropix-mutations-") as tmp:
        tree = scratch_copy(Path(tmp))
        for m in chosen:
            original = apply(m, tree)
            t0 = time.perf_counter()
            try:
                dead = killed(m, tree)
            finally:
                (tree / m.path).write_text(original)
            print(f"{'killed  ' if dead else 'SURVIVED'} {m.name:32} {' '.join(m.tests)} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            if not dead:
                survivors.append(m.name)
    print(f"killed {len(chosen) - len(survivors)}/{len(chosen)} in {time.perf_counter() - start:.0f} s")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
