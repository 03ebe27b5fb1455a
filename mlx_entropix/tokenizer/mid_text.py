"""Text as it is tokenized in the middle of a text, for insertions such as the
think text.

SentencePiece-style tokenizers put a ▁ (a space) in front of every text they
encode (a `Prepend("▁")` normalizer, or a Metaspace pre-tokenizer whose
prepend scheme is not "never"). Inserted mid-answer, " ..." would then come out
as "  ..." with two spaces. The mid-text encoder is the same tokenizer with
that prefix switched off; byte-level BPE tokenizers have none and need no copy.
"""

from __future__ import annotations

import json
from typing import Any

from tokenizers import Tokenizer as BackendTokenizer

from .detokenizer import SPIECE_SPACE


def _steps(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The components of a normalizer or pre-tokenizer spec, flattening a Sequence."""
    if spec is None:
        return []
    if spec.get("type") == "Sequence":
        return spec.get("normalizers") or spec.get("pretokenizers") or []
    return [spec]


def _is_space_prefix(step: dict[str, Any]) -> bool:
    return step.get("type") == "Prepend" and step.get("prepend") == SPIECE_SPACE


def mid_text_tokenizer(backend: BackendTokenizer) -> BackendTokenizer | None:
    """A copy of `backend` that adds no leading ▁, or None when it adds none anyway."""
    spec = json.loads(backend.to_str())
    changed = False
    normalizer = spec.get("normalizer")
    if normalizer is not None:
        if _is_space_prefix(normalizer):
            spec["normalizer"], changed = None, True
        elif normalizer.get("type") == "Sequence" and any(map(_is_space_prefix, _steps(normalizer))):
            normalizer["normalizers"] = [s for s in _steps(normalizer) if not _is_space_prefix(s)]
            changed = True
    for step in _steps(spec.get("pre_tokenizer")):
        if step.get("type") == "Metaspace" and step.get("prepend_scheme", "always") != "never":
            step["prepend_scheme"], changed = "never", True
    return BackendTokenizer.from_str(json.dumps(spec)) if changed else None
