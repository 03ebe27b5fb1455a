"""A GGUF file converted once into a model folder, reused at every later start.

Reading a GGUF file with the gguf package and dequantising it costs tens of
seconds for a 0.5B model on a 2-core CPU (README); the converted folder, a
plain mlx-lm folder (config.json, float32 model.safetensors, tokenizer files,
generation_config.json) loads in about a second. Folders live in
MLX_ENTROPIX_CONVERTED_DIR, else $XDG_CACHE_HOME/mlx-entropix/converted, else
~/.cache/mlx-entropix/converted, named by the file's fingerprint (its size and
first and last MiB, as fits are found) and this converter's version, so an
edited file or a changed converter converts again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import mlx.core as mx

from .gguf import GGUFError, read_gguf, requant_bits
from .gguf_families import GGUFArchError, hf_config, hf_weights
from .sampler.fitted import file_digest
from .tokenizer.gguf_vocab import gguf_end_ids, hf_tokenizer_from_gguf

CACHE_ENV = "MLX_ENTROPIX_CONVERTED_DIR"
CONVERTER_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
GGUF_KEY = "gguf"  # config.json block saying where the folder came from


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlx-entropix" / "converted"


def fingerprint(path: Path) -> str:
    st = path.stat()
    return f"v{CONVERTER_VERSION}-{file_digest(str(path), st.st_size, st.st_mtime_ns)[:20]}"


def write_folder(path: Path, out: Path) -> dict[str, Any]:
    """Convert the GGUF file into the folder `out` (written to a temporary
    sibling, then renamed, so an interrupted conversion leaves nothing behind).
    Returns the config written."""
    try:
        metadata, tensors, types = read_gguf(path)
        config = hf_config(metadata, has_output="output.weight" in tensors)
        weights = hf_weights(tensors, metadata, config)
        del tensors  # keep one float32 copy of the model in memory, not two
        hf_tok = hf_tokenizer_from_gguf(metadata)
    except (GGUFArchError, ValueError) as e:
        raise GGUFError(str(e)) from None
    config[GGUF_KEY] = {"file": path.name, "requant_bits": requant_bits(types),
                        "types": sorted(set(types.values()))}
    end_ids = gguf_end_ids(metadata)
    config["eos_token_id"] = end_ids
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays = {k: mx.array(weights.pop(k)) for k in list(weights)}
    mx.save_safetensors(str(tmp / WEIGHTS_FILE), arrays, metadata={"format": "mlx"})
    del arrays
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (tmp / "generation_config.json").write_text(json.dumps({"eos_token_id": end_ids}) + "\n")
    hf_tok.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return config


def converted_folder(path: Path, quiet: bool = False) -> Path:
    """The cached folder of this GGUF file, converting it first if needed."""
    out = cache_dir() / fingerprint(path)
    if (out / "config.json").is_file():
        return out
    if not quiet:
        print(f"Converting {path.name} once into {out} (later starts reuse it) ...",
              file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    write_folder(path, out)
    if not quiet:
        print(f"Converted in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return out
