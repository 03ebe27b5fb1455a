"""The traces one item's methods ask for, generated many at a time and shared.

A multi-trace method (self-consistency, CoT decoding, ...) asks for several
continuations of the same chat messages; two methods often ask for the same
ones (self-consistency and DeepConf vote over the same samples, CoT decoding's
first path is greedy's answer). Requests are keyed by what determines their
output, so each distinct trace is generated once per item, and every method is
still charged for all the traces it used, as if it had run alone.

An item asks through a `GenerateMany` callable (a list of requests -> their
traces, in order), which blocks until they are decoded; behind it one
`Decoder` decodes the requests of every item in flight together (inflight.py),
the model's in model.py, a fake in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..methods import MethodSpec
from ..trace import Trace


@dataclass(frozen=True)
class TraceRequest:
    """One continuation of an item's messages under one single-pass method."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, hashable
    spec: MethodSpec
    seed: int
    max_tokens: int
    prefix_ids: tuple[int, ...] = ()  # forced start of the answer

    @classmethod
    def of(cls, messages: list[dict[str, str]], spec: MethodSpec, seed: int, max_tokens: int,
           prefix_ids: tuple[int, ...] = ()) -> TraceRequest:
        return cls(tuple((m["role"], m["content"]) for m in messages), spec, seed, max_tokens, prefix_ids)

    @property
    def chat(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def run_request(self):
        """The runner's request for this trace (imports the model code, so only when generating)."""
        from ..engine import GenerationOptions

        return self.spec.request(self.chat, GenerationOptions(max_tokens=self.max_tokens, seed=self.seed),
                                 prefix_ids=self.prefix_ids)

    def describe(self) -> dict:
        """The request as results.jsonl records it."""
        return {"method": self.spec.label, "seed": self.seed, "prefix_ids": list(self.prefix_ids)}

    def key(self) -> tuple:
        """What decides the trace: greedy output does not depend on the seed."""
        seed = None if self.spec.label == "greedy" else self.seed
        return self.messages, self.spec.label, seed, self.max_tokens, self.prefix_ids


GenerateMany = Callable[[list[TraceRequest]], list[Trace]]


def decoded_tokens(trace: Trace) -> int:
    """Tokens the model decoded for this trace (a forced prefix was not decoded)."""
    if trace.stats is None:
        raise ValueError("a trace without stats")
    return trace.stats.generation_tokens


class Decoder(Protocol):
    """Many traces decoded at once, requests joining between steps
    (runner.TraceDecoder behind model.ModelDecoder, a fake in tests)."""

    max_batch: int  # rows per step

    def add(self, request: TraceRequest) -> int:
        """Queue a request; returns its handle."""
        ...

    def step(self) -> list[tuple[int, Trace]]:
        """One decode step of the running rows: the traces that finished, by handle."""
        ...

    def batching(self) -> dict:
        """How full the steps ran so far: batch_time.BatchTime.to_dict()."""
        ...


class TraceSource:
    """One item's traces: cached by request, the missing ones asked for together."""

    def __init__(self, generate_many: GenerateMany):
        self.generate_many = generate_many
        self.traces: dict[tuple, Trace] = {}
        self.requests: list[TraceRequest] = []  # in the order first generated, for the record

    def get(self, requests: Sequence[TraceRequest]) -> list[Trace]:
        missing: dict[tuple, TraceRequest] = {}
        for r in requests:
            if r.key() not in self.traces:
                missing.setdefault(r.key(), r)  # the first of equal requests is the one recorded
        if missing:
            traces = self.generate_many(list(missing.values()))
            if len(traces) != len(missing):
                raise ValueError(f"generate_many returned {len(traces)} traces for {len(missing)} requests")
            for r, t in zip(missing.values(), traces):
                self.traces[r.key()] = t
                self.requests.append(r)
        return [self.traces[r.key()] for r in requests]

    def index(self, request: TraceRequest) -> int:
        """The position of a generated request's trace in the item's record."""
        key = request.key()
        return next(i for i, r in enumerate(self.requests) if r.key() == key)
