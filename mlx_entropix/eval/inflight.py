"""Several items in flight at once, the traces of all of them decoded in one
continuous batch.

One item asks for its traces in stages (every method's first traces together,
then each multi-trace method's follow-ups), so alone it keeps 2-6 rows busy
and each stage lasts as long as its longest trace. Here each in-flight item
runs its own Python logic (the harness's `evaluate_item`, unchanged) in a
worker thread that blocks while its traces are decoded; this module's loop,
the only code that touches the model, queues every item's requests in one
`Decoder` and steps it, so a row one item leaves is taken by another's
request. As many items are in flight as the decoder has rows: each of them
always has a trace queued or running, so that keeps every row busy, and a
crash loses no more than those items. A free row goes to the oldest item's
request, so items finish one after another, not all together at the end.

The loop steps only when every in-flight item is waiting for traces (or has
finished): which requests share a step then depends on the items alone, not
on thread timing.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..trace import Trace
from .errors import EvalError
from .traces import Decoder, GenerateMany, TraceRequest

Item = TypeVar("Item")
Result = TypeVar("Result")
STOPPED = "the run stopped (another item or the decoder failed)"


@dataclass
class _Ask:
    """One item's blocking call for traces."""

    position: int  # the item's place in the run
    requests: list[TraceRequest]
    traces: list[Trace | None]
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Finished(Generic[Result]):
    position: int
    result: Result | None
    error: BaseException | None


class _InFlight(Generic[Item, Result]):
    """The shared state of the items' threads and the decoding loop."""

    def __init__(self, decoder: Decoder, work: Callable[[Item, GenerateMany], Result]):
        self.decoder, self.work = decoder, work
        self.cond = threading.Condition()
        self.busy = 0  # items running Python code, not waiting for traces
        self.asked: list[_Ask] = []  # new since the last settle
        self.queued: list[tuple[_Ask, int]] = []  # (ask, index in it) waiting for a row, oldest item first
        self.finished: list[_Finished[Result]] = []
        self.rows: dict[int, tuple[_Ask, int]] = {}  # decoder handle -> (ask, index in it)
        self.closed = False

    def start(self, position: int, item: Item) -> None:
        with self.cond:
            self.busy += 1
        threading.Thread(target=self._run, args=(position, item), daemon=True).start()

    def _run(self, position: int, item: Item) -> None:
        result, error = None, None
        try:
            result = self.work(item, functools.partial(self._ask, position))
        except BaseException as e:  # handed to the loop, which raises it
            error = e
        with self.cond:
            self.finished.append(_Finished(position, result, error))
            self.busy -= 1
            self.cond.notify_all()

    def _ask(self, position: int, requests: list[TraceRequest]) -> list[Trace]:
        """An item's GenerateMany: blocks until the loop has decoded them."""
        if not requests:
            return []
        ask = _Ask(position, list(requests), [None] * len(requests))
        with self.cond:
            if self.closed:
                raise EvalError(STOPPED)
            self.asked.append(ask)
            self.busy -= 1
            self.cond.notify_all()
        ask.ready.wait()
        if ask.error is not None:
            raise ask.error
        return ask.traces

    def settle(self) -> list[_Finished[Result]]:
        """Wait until every item waits for traces or has finished; give the
        free rows to the oldest items' requests and return the finished items."""
        with self.cond:
            self.cond.wait_for(lambda: self.busy == 0)
            finished, self.finished = self.finished, []
            asked, self.asked = self.asked, []
        self.queued += [(ask, j) for ask in asked for j in range(len(ask.requests))]
        self.queued.sort(key=lambda q: q[0].position)  # stable: an ask's requests keep their order
        free = self.decoder.max_batch - len(self.rows)
        for ask, j in self.queued[:free]:
            self.rows[self.decoder.add(ask.requests[j])] = (ask, j)
        del self.queued[:free]
        return finished

    def step(self) -> None:
        """One decode step; every ask whose traces are all done goes back to its item."""
        for handle, trace in self.decoder.step():
            ask, j = self.rows.pop(handle)
            ask.traces[j] = trace
            if None not in ask.traces:
                self._answer(ask)

    def _answer(self, ask: _Ask) -> None:
        with self.cond:
            self.busy += 1
        ask.ready.set()

    def close(self) -> None:
        """Release every waiting item with an error, so that no thread outlives the run."""
        with self.cond:
            self.closed = True
            waiting = self.asked + [ask for ask, _ in self.queued + list(self.rows.values())]
        for ask in waiting:
            ask.error = EvalError(STOPPED)
            ask.ready.set()


def in_flight(items: Sequence[Item], work: Callable[[Item, GenerateMany], Result], decoder: Decoder
              ) -> Iterator[tuple[Item, Result]]:
    """(item, work(item, generate_many)) for every item as it finishes (not in
    order), with up to decoder.max_batch items in flight. An item's error is
    raised here, after the items that finished with it have been yielded."""
    state: _InFlight[Item, Result] = _InFlight(decoder, work)
    waiting = deque(enumerate(items))
    running: dict[int, Item] = {}
    try:
        while waiting or running:
            while waiting and len(running) < decoder.max_batch:
                position, item = waiting.popleft()
                running[position] = item
                state.start(position, item)
            finished = state.settle()
            for f in finished:
                item = running.pop(f.position)
                if f.error is None:
                    yield item, f.result
            failed = next((f.error for f in finished if f.error is not None), None)
            if failed is not None:
                raise failed
            if running and not finished:
                state.step()
    finally:
        state.close()
