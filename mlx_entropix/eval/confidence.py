"""How sure a trace was, from the per-token top-k log-probabilities every trace
records: the two confidence measures the multi-trace methods choose by.

- Answer margin (CoT decoding, Wang & Zhou 2024): over the tokens of the
  answer, the mean of p(top-1) - p(top-2). A path whose answer the model
  commits to clearly has a large margin.
- Token confidence (DeepConf, Fu et al. 2025): C = -mean(log p) over the top-k
  candidates of a token; large when the distribution is peaked. A trace's
  confidence is the lowest mean C over a sliding window of tokens (their
  "lowest group confidence"), so one stretch of confusion marks the trace.
"""

from __future__ import annotations

import math

from ..trace import TokenRecord, Trace


def token_margin(rec: TokenRecord) -> float:
    """p(top-1) - p(top-2) at this position (0 when fewer than two were recorded)."""
    if len(rec.top) < 2:
        return 0.0
    return math.exp(rec.top[0].logprob) - math.exp(rec.top[1].logprob)


def token_confidence(rec: TokenRecord) -> float:
    """DeepConf's token confidence over the recorded top-k."""
    if not rec.top:
        return -rec.logprob
    return -sum(a.logprob for a in rec.top) / len(rec.top)


def _generated_offsets(trace: Trace) -> list[tuple[int, int]]:
    """Each generated token's character span in trace.text (after a forced prefix)."""
    at = len(trace.prompt.get("prefix", {}).get("text", ""))
    spans = []
    for rec in trace.tokens:
        spans.append((at, at + len(rec.text)))
        at += len(rec.text)
    return spans


def answer_margin(trace: Trace, start: int, end: int) -> float:
    """Mean margin over the generated tokens overlapping characters [start, end)
    of trace.text; 0 when none does (e.g. the answer lies in a forced prefix)."""
    margins = [token_margin(rec) for rec, (a, b) in zip(trace.tokens, _generated_offsets(trace))
               if a < end and b > start and not rec.inserted]
    return sum(margins) / len(margins) if margins else 0.0


def lowest_group_confidence(trace: Trace, window: int) -> float:
    """The lowest mean token confidence over any `window` consecutive tokens
    (the whole trace when it is shorter); 0 for an empty trace."""
    conf = [token_confidence(rec) for rec in trace.tokens]
    if not conf:
        return 0.0
    w = min(window, len(conf))
    total = sum(conf[:w])
    lowest = total
    for i in range(w, len(conf)):
        total += conf[i] - conf[i - w]
        lowest = min(lowest, total)
    return lowest / w
