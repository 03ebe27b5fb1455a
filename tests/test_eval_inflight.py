"""Several items in flight, their traces in one continuous batch (eval/inflight.py):
the batch stays full across items and stages, at most max_batch items are in
flight, errors stop the run without leaving threads behind, and every item's
record is the one it gets alone, with the fake model and a real tiny one."""

import json
import threading

import pytest
from eval_fakes import FakeDecoder, write_sum_dataset

from mlx_entropix.eval.dataset import file_sha256, load_dataset
from mlx_entropix.eval.inflight import in_flight
from mlx_entropix.eval.model import ModelDecoder
from mlx_entropix.eval.multitrace import GREEDY, resolve_eval_methods
from mlx_entropix.eval.runner import run_eval
from mlx_entropix.eval.store import RunSettings
from mlx_entropix.eval.traces import TraceRequest
from tests.llama_fixtures import llama3_tiny_lm

EVERY_FAMILY = ("entropix,greedy,normal,self_consistency@k=3,cot_decoding@k=3,egb@b=2:tau=2,"
                "deepconf@k=5:keep=0.6,egb@b=1:tau=2:pick=guard")


def _run(tmp_path, name, decoder, labels=EVERY_FAMILY, n=12, max_tokens=64, save_traces=True):
    path = tmp_path / "sums.jsonl"
    if not path.exists():
        write_sum_dataset(path, n)
    methods = resolve_eval_methods(labels)
    settings = RunSettings(dataset=str(path), dataset_sha256=file_sha256(path),
                           methods=tuple(m.label for m in methods), n=n, seed=0, max_tokens=max_tokens,
                           model=None, configs={m.label: m.describe() for m in methods})
    out = tmp_path / name
    run_eval(load_dataset(path), settings, methods, decoder, out, show_progress=False, save_traces=save_traces)
    return out


def _records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_items_overlap_so_the_batch_stays_full(tmp_path):
    # one item of these three single-pass methods never has more than 3 rows
    decoder = FakeDecoder(max_batch=8)
    _run(tmp_path, "run", decoder, labels="entropix,greedy,normal", n=30)
    assert max(decoder.rows) == 8
    assert decoder.rows.count(8) > 0.8 * len(decoder.rows)


def test_every_record_and_trace_file_is_the_one_it_gets_one_item_at_a_time(tmp_path):
    alone, together = FakeDecoder(max_batch=1), FakeDecoder(max_batch=8)
    a = _run(tmp_path, "alone", alone)
    b = _run(tmp_path, "together", together)
    assert max(alone.rows) == 1 and max(together.rows) == 8
    assert _records(a) == _records(b)
    files = sorted(p.name for p in (a / "traces").iterdir())
    assert files == sorted(p.name for p in (b / "traces").iterdir()) and len(files) > 12
    assert all((a / "traces" / f).read_text() == (b / "traces" / f).read_text() for f in files)


def _asking(stages, log):
    """Work for in_flight: item i asks for stages[i] traces one after another,
    and logs how many items were running when it started."""
    lock, running = threading.Lock(), [0]

    def work(i, generate_many):
        with lock:
            running[0] += 1
            log.append(running[0])
        for s in range(stages[i]):
            req = TraceRequest.of([{"role": "user", "content": f"What is {i} + {s}?"}], GREEDY, i, 8)
            (trace,) = generate_many([req])
            assert f"{i} plus {s}" in trace.text  # its own trace, not another item's
        with lock:
            running[0] -= 1
        return i

    return work


def test_at_most_max_batch_items_are_in_flight_and_each_is_yielded_once():
    stages = [1 + i % 4 for i in range(20)]
    log = []
    done = [i for i, result in in_flight(list(range(20)), _asking(stages, log), FakeDecoder(max_batch=5))
            if result == i]
    assert sorted(done) == list(range(20)) and max(log) == 5


def _threads_end(before):
    for t in set(threading.enumerate()) - before:
        t.join(timeout=30)
        assert not t.is_alive()


def test_an_item_that_fails_stops_the_run_and_releases_the_others():
    before = set(threading.enumerate())
    stages = [3] * 10

    def work(i, generate_many):
        if i == 6:
            generate_many([TraceRequest.of([{"role": "user", "content": "What is 6 + 0?"}], GREEDY, 6, 8)])
            raise ValueError("item 6 broke")
        return _asking(stages, [])(i, generate_many)

    done = []
    with pytest.raises(ValueError, match="item 6 broke"):
        for i, _ in in_flight(list(range(10)), work, FakeDecoder(max_batch=4)):
            done.append(i)
    assert done and 6 not in done
    _threads_end(before)


def test_a_decoder_that_fails_stops_the_run_and_releases_every_item():
    before = set(threading.enumerate())

    class Broken(FakeDecoder):
        def step(self):
            if len(self.rows) == 12:
                raise RuntimeError("out of memory")
            return super().step()

    with pytest.raises(RuntimeError, match="out of memory"):
        list(in_flight(list(range(10)), _asking([3] * 10, []), Broken(max_batch=4)))
    _threads_end(before)


def test_a_real_model_gives_each_item_the_record_it_gets_alone(tmp_path):
    """Tiny random Llama (byte-level tokenizer, so every question is its own
    prompt): batch 8 with items overlapping against one row at a time."""
    lm = llama3_tiny_lm(seed=1)  # a seed whose greedy answers do not stop at once
    labels = "greedy,normal,self_consistency@k=3,cot_decoding@k=2,egb@b=2:tau=1"

    class Counting(ModelDecoder):
        def __init__(self, lm, max_batch):
            super().__init__(lm, max_batch)
            self.rows = []  # rows each step decodes

        def step(self):
            self.rows.append(self.gen.running + len(self.gen.waiting))
            return super().step()

    alone, together = Counting(lm, 1), Counting(lm, 8)
    a = _records(_run(tmp_path, "alone", alone, labels, n=3, max_tokens=6, save_traces=False))
    b = _records(_run(tmp_path, "together", together, labels, n=3, max_tokens=6, save_traces=False))
    assert max(alone.rows) == 1 and max(together.rows) == 8  # one item alone has at most 4 rows

    def timeless(records):
        for r in records:
            for part in [*r["traces"], *r["methods"].values()]:
                del part["time_s"]
        return records

    assert timeless(a) == timeless(b)
    # greedy, 3 samples, CoT's second path, and egb's two branches, one of them CoT's path (shared)
    assert all(len(r["traces"]) == 6 and len(r["methods"]["egb@b=2:tau=1"]["used"]) == 3 for r in a)  # greedy, 3 samples, 1 CoT path, 2 egb branches
