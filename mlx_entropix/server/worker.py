"""The one thread that runs the model, fed by a bounded queue.

MLX generation is not thread-safe and one model serves everyone, so every
generation runs here. Entropix and greedy runs share decode steps
(continuous batching, batch.py): up to max_batch of them advance together,
each with its own tokens, metrics and branch events, exactly as it would run
alone; a new request joins between two steps. Other work (the `normal`
baseline, which is mlx-lm's own generator, and tasks such as threshold
fitting) runs alone, in queue order, once the running rows have finished.

Each request gets its own asyncio queue that the worker feeds through
`call_soon_threadsafe`, so streams never mix. A request that goes away sets
its cancel flag: its row leaves the batch before the next step; a queued one
leaves the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from ..batch import BatchGenerator, BatchRequest
from ..batch_time import BatchTime
from ..generate import GenerationResponse
from ..load import LoadedModel
from ..prompt_cache import DEFAULT_PROMPT_CACHE_TOKENS, PromptCache
from ..requests import DEFAULT_MAX_BATCH
from ..runner import RunRequest, finish_trace, run_header, start_run
from ..trace import Trace

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.5
_END = object()


class QueueFull(Exception):
    """No room left in the queue; the client should retry later."""


@dataclass
class Generation:
    """One request's view of its run: the trace header, then its responses."""

    trace: Trace | None  # None for a task that is not a generation (submit_task)
    _loop: asyncio.AbstractEventLoop
    _cancel: threading.Event
    _out: asyncio.Queue = field(default_factory=asyncio.Queue)
    started: float = 0.0  # set by the worker when the run begins

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def put(self, item: object) -> None:
        """From the worker thread: hand one item to the request's event loop."""
        try:
            self._loop.call_soon_threadsafe(self._out.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancel()

    async def responses(self, disconnected: Callable[[], Awaitable[bool]] | None = None
                        ) -> AsyncIterator[GenerationResponse]:
        """The responses as the worker produces them; a generation error is re-raised.

        Leaving early (break, cancellation, a client gone) cancels the run.
        `disconnected` is polled meanwhile, for responses that are not streamed.
        """
        watcher = asyncio.create_task(self._watch(disconnected)) if disconnected else None
        try:
            while (item := await self._out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancel()
            if watcher is not None:
                watcher.cancel()

    async def _watch(self, disconnected: Callable[[], Awaitable[bool]]) -> None:
        """Cancel the run and end its responses once the client has gone."""
        while not await disconnected():
            await asyncio.sleep(DISCONNECT_POLL_S)
        self.cancel()
        self._out.put_nowait(_END)

    def finish(self, last: GenerationResponse | None) -> Trace:
        """The trace with its text and stats, once every response was read."""
        assert self.trace is not None, "finish() is for generations, not tasks"
        return finish_trace(self.trace, last, time.perf_counter() - self.started)


@dataclass
class _Job:
    generation: Generation
    stream: Iterator[object] | None = None  # work that runs alone: a task's items, a normal run
    request: BatchRequest | None = None  # a run that shares decode steps


class Worker:
    """Runs queued generations in a single thread, up to max_batch per decode step."""

    def __init__(self, lm: LoadedModel, queue_size: int, max_batch: int = DEFAULT_MAX_BATCH,
                 prompt_cache_tokens: int = DEFAULT_PROMPT_CACHE_TOKENS):
        if queue_size < 1:
            raise ValueError(f"queue size must be >= 1, got {queue_size}")
        if max_batch < 1:
            raise ValueError(f"max batch must be >= 1, got {max_batch}")
        self.lm = lm
        self.queue_size, self.max_batch = queue_size, max_batch
        self._pending: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._current: Generation | None = None  # work running alone
        self.prompts = PromptCache(prompt_cache_tokens)  # outlives a failed batch: entries never change
        self.timing = BatchTime()  # the batch's prefill and steps since the server started (/health)
        self._batch = BatchGenerator(lm, max_batch, prompt_cache=self.prompts, timing=self.timing)
        self._rows: dict[int, Generation] = {}  # batch uid -> its request's generation

    @property
    def waiting(self) -> int:
        with self._ready:
            return sum(not job.generation.cancelled for job in self._pending)

    @property
    def running(self) -> int:
        """Generations being decoded now (rows of the batch, or one running alone)."""
        return len(self._rows) + (self._current is not None)

    @property
    def busy(self) -> bool:
        return self.running > 0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mlx-generation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Cancel the running and the queued generations, then end the thread."""
        if self._thread is None:
            return
        with self._ready:
            self._stopping = True
            for job in self._pending:
                job.generation.cancel()
                job.generation.put(_END)
            self._pending.clear()
            if self._current is not None:
                self._current.cancel()
            for gen in self._rows.values():
                gen.cancel()
            self._ready.notify()
        self._thread.join()
        self._thread = None
        for gen in self._rows.values():
            gen.put(_END)
        self._rows.clear()

    def submit(self, req: RunRequest) -> Generation:
        """Validate and queue a run (call from the event loop).

        Raises what `start_run` raises for a bad request (before anything is
        queued), or QueueFull. Requests whose client left free their place.
        """
        cancel = threading.Event()
        req = dataclasses.replace(req, options=dataclasses.replace(req.options, cancelled=cancel.is_set))
        loop = asyncio.get_running_loop()
        if req.method == "normal":
            trace, stream = start_run(self.lm, req)
            return self._enqueue(_Job(Generation(trace, loop, cancel), stream=stream))
        trace, ids, cfg = run_header(self.lm, req)
        return self._enqueue(_Job(Generation(trace, loop, cancel),
                                  request=BatchRequest(ids, cfg, req.options)))

    def submit_task(self, make: Callable[[Callable[[], bool]], Iterator[object]]) -> Generation:
        """Queue other work that uses the model (threshold fitting) behind the generations:
        `make(cancelled)` gives the items to stream; its Generation has no trace."""
        cancel = threading.Event()
        return self._enqueue(_Job(Generation(None, asyncio.get_running_loop(), cancel),
                                  stream=make(cancel.is_set)))

    def _enqueue(self, job: _Job) -> Generation:
        with self._ready:
            for gone in [j for j in self._pending if j.generation.cancelled]:
                self._pending.remove(gone)
                gone.generation.put(_END)
            if len(self._pending) >= self.queue_size:
                raise QueueFull
            self._pending.append(job)
            self._ready.notify()
        return job.generation

    def _next(self) -> _Job | None | bool:
        """Admit queued runs into the batch while it has room, in queue order.
        Returns work to run alone once no row is running, True to step the
        batch, None to stop."""
        with self._ready:
            while not self._pending and not self._rows and not self._stopping:
                self._ready.wait()
            if self._stopping:
                return None
            while self._pending and len(self._rows) < self.max_batch:
                job = self._pending[0]
                if job.generation.cancelled:
                    self._pending.popleft().generation.put(_END)
                    continue
                if job.request is None:  # runs alone, after the running rows
                    if self._rows:
                        break
                    self._current = self._pending.popleft().generation
                    return job
                self._pending.popleft()
                job.generation.started = time.perf_counter()
                self._rows[self._batch.insert(job.request)] = job.generation
            return True

    def _run(self) -> None:
        while (job := self._next()) is not None:
            if job is True:
                self._step()
                continue
            try:
                self._serve(job)
            finally:
                self._current = None

    def _step(self) -> None:
        """One decode step of the batch; rows whose client left go first."""
        for uid, gen in list(self._rows.items()):
            if gen.cancelled:
                self._batch.remove(uid)
                del self._rows[uid]
                gen.put(_END)
        if not self._rows:
            return
        try:
            for uid, response in self._batch.step():
                gen = self._rows[uid]
                gen.put(response)
                if response.finish_reason is not None:
                    del self._rows[uid]
                    self._batch.admitted.pop(uid, None)
                    gen.put(_END)
        except Exception as e:  # reported to every running request; the worker goes on
            log.exception("batched generation failed")
            for gen in self._rows.values():
                gen.put(e)
                gen.put(_END)
            self._rows.clear()
            self._batch = BatchGenerator(self.lm, self.max_batch, prompt_cache=self.prompts, timing=self.timing)

    def _serve(self, job: _Job) -> None:
        gen = job.generation
        gen.started = time.perf_counter()
        try:
            if not gen.cancelled:
                for response in job.stream:
                    gen.put(response)
                    if gen.cancelled:
                        break
        except Exception as e:  # reported to its request; the worker serves the next one
            log.exception("generation failed")
            gen.put(e)
        finally:
            close = getattr(job.stream, "close", None)
            if close is not None:  # free the run's cache here, in the MLX thread
                close()
            gen.put(_END)
