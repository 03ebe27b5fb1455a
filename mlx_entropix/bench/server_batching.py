"""`uv run benchmarks/server_batching.py`: the server's continuous batching as
streaming clients see it, against mlx-lm's own server (`--decode-concurrency`)
on the same float32 weights with the same BLAS, both on 127.0.0.1.

Each round runs, on each server, 1 client sending the prompts one after
another and then C concurrent clients, each sending its share of the same
prompts one after another (--requests-per-client; 1, the default, is one
burst of one prompt a client), greedy with a fixed max_tokens; rounds
interleave the servers so a busy machine weighs on both alike. Our runs also
carry our batch's account of them (/health's `batching`, read before and
after), from which the report works out what full-width steps would give
(batch_ceilings.py). Figures: total generated tokens / wall
time, and each request's time to its first token. Checks: every token chunk
of ours carries "entropix" (its per-token metrics), and our concurrent greedy
texts equal our one-client texts.

Weights. A model folder is served by both as is. A GGUF file that our loader
converts (any non-Llama, or a Llama of types MLX cannot read) is served by us
from the file and by mlx-lm from the float32 folder our loader caches for it
(gguf_cache.py), which is what ours loads. The embedded default (or a Llama
GGUF MLX reads packed) is exported once by `convert` as dense float32 into
a folder that both serve. mlx-lm's server is started through `import
mlx_entropix` so it gets the same OpenBLAS (blas.py); its thread count is
OpenBLAS's own (or --mlx-lm-threads), ours follows blas.py's free cores.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from ..prompt_cache import DEFAULT_PROMPT_CACHE_TOKENS
from ..server.launch import free_port, running_process, running_server
from .batch_ceilings import between, ceilings, describe
from .batching import bench_messages
from .measure import BenchError
from .server import sse_events

OURS, MLX_LM = "ours", "mlx-lm"
GOALS = {"ours C clients / ours 1 client": 3.0, "ours C clients / mlx-lm C clients": 1.0}
# mlx-lm's server run with the OpenBLAS that importing mlx_entropix loads (blas.py).
MLX_LM_SERVER = ("import mlx_entropix, runpy; "
                 "runpy.run_module('mlx_lm.server', run_name='__main__', alter_sys=True)")


@dataclass(frozen=True)
class Settings:
    """What one benchmark run asks for; checked before any server starts."""

    model: str | None
    clients: int = 8
    max_tokens: int = 64
    rounds: int = 2
    request_timeout: float = 600.0
    mlx_lm_threads: int | None = None  # OPENBLAS_NUM_THREADS for mlx-lm's server; None: OpenBLAS's own
    # mlx-lm's --prompt-cache-size. The run sends each prompt once per round and
    # server, 1 client then 8; with prompt caches on, the 8-client round would
    # skip prefill by reusing the 1-client round's caches. 0 turns both servers'
    # caches off (ours: --prompt-cache-tokens 0); more turns both on.
    mlx_lm_prompt_cache: int = 0
    # Requests each concurrent client sends one after another (the lone client sends them all in turn).
    # 1 is a burst: the run lasts as long as the longest reply, its last steps narrow as the short ones end;
    # more keeps the rows busy as a loaded server's are.
    requests_per_client: int = 1

    def check(self) -> "Settings":
        for name, low in (("clients", 2), ("max_tokens", 1), ("rounds", 1), ("requests_per_client", 1)):
            if getattr(self, name) < low:
                raise BenchError(f"--{name.replace('_', '-')} must be at least {low}, "
                                 f"got {getattr(self, name)}")
        if self.clients > 32:
            raise BenchError(f"--clients must be at most 32 (traffic stays bounded), got {self.clients}")
        if self.requests_per_client > 16:
            raise BenchError(f"--requests-per-client must be at most 16 (the lone client sends them all), "
                             f"got {self.requests_per_client}")
        if self.mlx_lm_threads is not None and self.mlx_lm_threads < 1:
            raise BenchError(f"--mlx-lm-threads must be at least 1, got {self.mlx_lm_threads}")
        if self.mlx_lm_prompt_cache < 0:
            raise BenchError(f"--mlx-lm-prompt-cache must be 0 (off) or more, got {self.mlx_lm_prompt_cache}")
        if not self.request_timeout > 0:
            raise BenchError(f"--request-timeout must be positive seconds, got {self.request_timeout}")
        if self.model is not None and not Path(self.model).expanduser().exists():
            raise BenchError(f"--model {self.model} does not exist; give a model folder or a .gguf file, "
                             "or leave it out for the embedded SmolLM2-135M")
        return self


@dataclass
class Reply:
    """One streamed request as its client saw it."""

    prompt: int
    ttft_s: float
    seconds: float
    completion_tokens: int
    text: str
    metric_records: int  # chunks carrying "entropix": one per generated token on our server
    start_s: float = 0.0  # when the request was sent, from the run's start
    token_s: list[float] = field(default_factory=list)  # each token chunk's arrival, from the request's start

    def tokens_between(self, t0: float, t1: float) -> float:
        """Tokens that arrived in [t0, t1] of the run's time (a chunk may carry
        several: mlx-lm's, when its detokenizer holds text back)."""
        if not self.token_s:
            return 0.0
        arrived = sum(t0 <= self.start_s + t <= t1 for t in self.token_s)
        return arrived * self.completion_tokens / len(self.token_s)


@dataclass
class Run:
    """`clients` clients against one server, their requests and the wall time."""

    server: str
    clients: int
    round: int
    wall_s: float
    replies: list[Reply] = field(default_factory=list)
    batching: dict[str, Any] | None = None  # ours: its batch's account of the run (/health before and after)

    @property
    def tokens(self) -> int:
        return sum(r.completion_tokens for r in self.replies)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def all_active(self) -> tuple[float, float] | None:
        """The span in which every client was streaming: from the latest first
        token of a client to the earliest end of a client's last reply (the
        run's time); None if no such span (a burst whose short replies end
        before the last first token)."""
        groups = client_groups(len(self.replies), self.clients)
        by_prompt = {r.prompt: r for r in self.replies}
        firsts, ends = [], []
        for g in groups:
            mine = [by_prompt[i] for i in g if i in by_prompt and by_prompt[i].token_s]
            if not mine:
                return None
            firsts.append(min(r.start_s + r.token_s[0] for r in mine))
            ends.append(max(r.start_s + r.seconds for r in mine))
        t0, t1 = max(firsts), min(ends)
        return (t0, t1) if t1 > t0 else None

    @property
    def steady_tokens_per_s(self) -> float | None:
        """Tokens/s while every client was streaming (all_active): the server's
        rate under this load without the run's ramp-up and drain."""
        span = self.all_active
        if span is None:
            return None
        return sum(r.tokens_between(*span) for r in self.replies) / (span[1] - span[0])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens": self.tokens, "tokens_per_s": self.tokens_per_s,
                "steady_tokens_per_s": self.steady_tokens_per_s}

    def accounted(self) -> dict[str, Any]:
        """The run as batch_ceilings reads one."""
        return {"wall_s": self.wall_s, "tokens": self.tokens, "time": self.batching}


def request_body(server: str, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    """A greedy streamed chat request: ours by its "sampler", mlx-lm's by temperature 0."""
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "stream": True,
                            "stream_options": {"include_usage": True}}
    return body | ({"sampler": "greedy"} if server == OURS else {"temperature": 0.0})


def read_stream(lines: Iterator[bytes], started: float, prompt: int, start_s: float = 0.0) -> Reply:
    """Fold an OpenAI chat stream into a Reply (times from `started`, perf_counter;
    start_s: when it was sent, from the run's start)."""
    ttft, text, records, usage, token_s = None, [], 0, None, []
    for _, data in sse_events(lines):
        if data.strip() == "[DONE]":
            break
        chunk = json.loads(data)
        if "error" in chunk:
            raise BenchError(f"the server answered an error: {chunk['error']}")
        usage = chunk.get("usage") or usage
        records += "entropix" in chunk
        pieces = [(c.get("delta") or {}).get("content") or "" for c in chunk.get("choices", [])]
        if "entropix" in chunk or any(pieces):  # a token's chunk
            token_s.append(round(time.perf_counter() - started, 4))
            ttft = token_s[0]
        text.extend(pieces)
    if usage is None:
        raise BenchError("the stream ended without a usage chunk (stream_options.include_usage)")
    return Reply(prompt, ttft if ttft is not None else float("nan"), time.perf_counter() - started,
                 usage["completion_tokens"], "".join(text), records, start_s, token_s)


def stream_request(client, url: str, server: str, prompt: int, messages: list[dict[str, str]],
                   max_tokens: int, run_started: float) -> Reply:
    started = time.perf_counter()
    with client.stream("POST", f"{url}/v1/chat/completions",
                       json=request_body(server, messages, max_tokens)) as response:
        if response.status_code != 200:
            response.read()
            raise BenchError(f"{server} answered HTTP {response.status_code}: {response.text[:300]}")
        return read_stream((line.encode() + b"\n" for line in response.iter_lines()), started, prompt,
                           started - run_started)


def client_groups(prompts: int, clients: int) -> list[list[int]]:
    """Which prompts each client sends, in turn: client j every clients-th from j."""
    return [list(range(j, prompts, clients)) for j in range(min(clients, prompts))]


def measure_run(url: str, server: str, prompts: list[list[dict[str, str]]], clients: int,
                max_tokens: int, timeout: float, round_no: int) -> Run:
    """`clients` clients at once, each sending its prompts (client_groups) in turn."""
    import httpx

    replies: list[Reply | None] = [None] * len(prompts)
    errors: list[BaseException] = []

    def client_thread(indices: list[int]) -> None:
        try:
            with httpx.Client(timeout=timeout, trust_env=False) as client:
                for i in indices:
                    replies[i] = stream_request(client, url, server, i, prompts[i], max_tokens, start)
        except BaseException as e:  # re-raised in the main thread below
            errors.append(e)

    groups = client_groups(len(prompts), clients)
    threads = [threading.Thread(target=client_thread, args=(g,), daemon=True) for g in groups]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Run(server, len(groups), round_no, wall, [r for r in replies if r is not None])


def batching(url: str) -> dict[str, Any]:
    """Our server's batch account so far (/health)."""
    import httpx

    return httpx.get(f"{url}/health", timeout=30, trust_env=False).json()["batching"]


def served_folder(model: str | None, workdir: Path) -> tuple[str | None, Path, str]:
    """(what our server loads, the folder mlx-lm's loads, how the weights were made the same)."""
    from ..gguf import read_header
    from ..gguf_cache import converted_folder

    path = Path(model).expanduser() if model else None
    if path is not None and path.is_dir():
        return str(path), path, f"both serve the folder {path}"
    if path is not None and not read_header(path).mlx_readable():
        folder = converted_folder(path)
        return str(path), folder, (f"ours loads {path.name} through its cached float32 folder {folder}, "
                                   "which mlx-lm serves")
    from ..convert import convert
    from ..load import load

    folder = workdir / "dense-float32"
    convert(load(model, weights="dense"), folder, float32=True)
    return str(folder), folder, (f"{path.name if path else 'the embedded SmolLM2-135M'} exported as dense "
                                 f"float32 (mlx_main.py convert --weights dense --float32) into {folder}, "
                                 "served by both")


@contextlib.contextmanager
def both_servers(ours_model: str, folder: Path, clients: int,
                 mlx_lm_threads: int | None, mlx_lm_prompt_cache: int) -> Iterator[dict[str, str]]:
    """Our server (--max-batch C) and mlx-lm's (--decode-concurrency C), both on
    127.0.0.1, both stopped on leaving (errors and Ctrl-C included)."""
    port = free_port()
    mlx_lm_argv = [sys.executable, "-c", MLX_LM_SERVER, "--model", str(folder), "--host", "127.0.0.1",
                   "--port", str(port), "--decode-concurrency", str(clients), "--log-level", "WARNING",
                   "--prompt-cache-size", str(mlx_lm_prompt_cache)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if mlx_lm_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(mlx_lm_threads)
    ours_cache = DEFAULT_PROMPT_CACHE_TOKENS if mlx_lm_prompt_cache else 0
    with running_server("--model", ours_model, "--max-batch", str(clients), "--host", "127.0.0.1",
                        "--prompt-cache-tokens", str(ours_cache)) as ours, \
            running_process(mlx_lm_argv, port, "mlx-lm's server", env=env) as theirs:
        yield {OURS: ours, MLX_LM: theirs}


def batch_ceilings(runs: list[Run], clients: int) -> dict[str, float] | None:
    """Our C-client runs' ceilings (batch_ceilings.py) against the same round's
    1-client run, medians over the rounds: what full-width steps would give."""
    per_round = []
    for r in runs:
        lone = [o for o in runs if o.server == OURS and o.clients == 1 and o.round == r.round]
        if r.server == OURS and r.clients == clients and r.batching and lone and lone[0].batching:
            try:
                per_round.append(ceilings(lone[0].accounted(), r.accounted(), clients))
            except BenchError:  # a round without a full-width step has no ceiling to read
                continue
    if not per_round:
        return None
    return {k: statistics.median(c[k] for c in per_round) for k in per_round[0]}


def summarise(runs: list[Run], clients: int) -> dict[str, Any]:
    """Median tokens/s and TTFT per (server, clients), the goal ratios, our
    batch's ceilings, the checks."""
    cells: dict[str, dict[str, Any]] = {}
    for server in (OURS, MLX_LM):
        for n in (1, clients):
            chosen = [r for r in runs if r.server == server and r.clients == n]
            if not chosen:
                continue
            ttfts = [rep.ttft_s for r in chosen for rep in r.replies]
            steady = [r.steady_tokens_per_s for r in chosen]
            cells[f"{server} {n}"] = {
                "tokens_per_s": statistics.median(r.tokens_per_s for r in chosen),
                "tokens_per_s_runs": [r.tokens_per_s for r in chosen],
                "steady_tokens_per_s": statistics.median(steady) if None not in steady else None,
                "ttft_s_median": statistics.median(ttfts), "ttft_s_max": max(ttfts)}

    def ratio(a: str, b: str, figure: str = "tokens_per_s") -> float | None:
        if a not in cells or b not in cells or cells[a][figure] is None or not cells[b][figure]:
            return None  # a figure that a run could not give (no span with every client streaming)
        return cells[a][figure] / cells[b][figure]

    ratios = {"ours C clients / ours 1 client": ratio(f"{OURS} {clients}", f"{OURS} 1"),
              "ours C clients / mlx-lm C clients": ratio(f"{OURS} {clients}", f"{MLX_LM} {clients}"),
              "mlx-lm C clients / mlx-lm 1 client": ratio(f"{MLX_LM} {clients}", f"{MLX_LM} 1"),
              "while all stream: ours C clients / ours 1 client":
                  ratio(f"{OURS} {clients}", f"{OURS} 1", "steady_tokens_per_s"),
              "while all stream: ours C clients / mlx-lm C clients":
                  ratio(f"{OURS} {clients}", f"{MLX_LM} {clients}", "steady_tokens_per_s"),
              "while all stream: mlx-lm C clients / mlx-lm 1 client":
                  ratio(f"{MLX_LM} {clients}", f"{MLX_LM} 1", "steady_tokens_per_s")}
    goals = {name: {"value": ratios[name], "target": f">= {bound}",
                    "met": ratios[name] is not None and ratios[name] >= bound}
             for name, bound in GOALS.items()}
    return {"cells": cells, "ratios": ratios, "goals": goals, "ceilings": batch_ceilings(runs, clients),
            "checks": checks(runs, clients)}


def checks(runs: list[Run], clients: int) -> dict[str, Any]:
    """Our streams carry one metrics record per generated token; our concurrent greedy texts equal the lone client's."""
    ours = [r for r in runs if r.server == OURS]
    missing = sum(abs(rep.completion_tokens - rep.metric_records) for r in ours for rep in r.replies)
    lone = {rep.prompt: rep.text for r in ours if r.clients == 1 for rep in r.replies}
    differ = sorted({rep.prompt for r in ours if r.clients == clients for rep in r.replies
                     if rep.prompt in lone and rep.text != lone[rep.prompt]})
    theirs = {rep.prompt: rep.text for r in runs if r.server == MLX_LM and r.clients == 1
              for rep in r.replies}
    return {"every_token_has_entropix": missing == 0 and any(r.replies for r in ours),
            "tokens_without_entropix_record": missing,
            "concurrent_texts_equal_lone": not differ and bool(lone), "prompts_that_differ": differ,
            # informative only: the two servers template and stop alike but need not agree
            "same_texts_as_mlx_lm": sum(lone.get(p) == t for p, t in theirs.items())}


def _fmt(value: float | None, unit: str = "x") -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"


def report_lines(summary: dict[str, Any], clients: int) -> list[str]:
    """The summary as a markdown table, the ratios against their goals, the checks.
    "While all stream": the rate over the span in which every client was
    streaming (Run.all_active), without the run's ramp-up and drain; n/a for a
    burst whose short replies end before the last client's first token."""
    lines = ["| server | clients | tokens/s (median; runs) | TTFT s median | TTFT s max | tokens/s while all stream |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, cell in summary["cells"].items():
        server, n = key.rsplit(" ", 1)
        runs = ", ".join(f"{v:.2f}" for v in cell["tokens_per_s_runs"])
        lines.append(f"| {server} | {n} | {cell['tokens_per_s']:.2f} ({runs}) "
                     f"| {cell['ttft_s_median']:.2f} | {cell['ttft_s_max']:.2f} "
                     f"| {_fmt(cell['steady_tokens_per_s'], '')} |")
    lines.append("")
    for name, value in summary["ratios"].items():
        goal = summary["goals"].get(name)
        verdict = f" (goal {goal['target']}: {'met' if goal['met'] else 'MISSED'})" if goal else ""
        lines.append(f"- {name.replace('C clients', f'{clients} clients')}: {_fmt(value)}{verdict}")
    bound = summary.get("ceilings")
    if bound:
        lines.append(f"- ours, {clients} clients against one: {describe(bound, clients)}")
    c = summary["checks"]
    lines.append(f"- every token of ours streamed its \"entropix\" record: "
                 f"{'yes' if c['every_token_has_entropix'] else 'NO'}")
    lines.append(f"- our {clients}-client greedy texts equal the 1-client texts: "
                 f"{'yes' if c['concurrent_texts_equal_lone'] else 'NO ' + str(c['prompts_that_differ'])}")
    return lines


def run_benchmark(settings: Settings, on_run=None) -> dict[str, Any]:
    prompts = bench_messages(settings.clients * settings.requests_per_client)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="server-batching-") as tmp:
        ours_model, folder, weights = served_folder(settings.model, Path(tmp))
        with both_servers(ours_model, folder, settings.clients, settings.mlx_lm_threads,
                          settings.mlx_lm_prompt_cache) as urls:
            for server, url in urls.items():  # warm-up: load, compile the step graphs
                measure_run(url, server, prompts[:2], 2, 4, settings.request_timeout, -1)
            for round_no in range(settings.rounds):
                order = list(urls) if round_no % 2 == 0 else list(urls)[::-1]
                for server in order:
                    for clients in (1, settings.clients):
                        before = batching(urls[server]) if server == OURS else None
                        run = measure_run(urls[server], server, prompts, clients,
                                          settings.max_tokens, settings.request_timeout, round_no)
                        if before is not None:
                            run.batching = between(before, batching(urls[server]))
                        runs.append(run)
                        if on_run:
                            on_run(run)
    return {"weights": weights, "runs": [r.to_dict() for r in runs],
            **summarise(runs, settings.clients)}


def main(
    model: Annotated[Optional[str], typer.Option(help="Model folder or GGUF; default: the embedded SmolLM2-135M.")] = None,
    clients: Annotated[int, typer.Option(help="Concurrent clients; also --max-batch and --decode-concurrency.")] = 8,
    max_tokens: Annotated[int, typer.Option(help="New tokens per request.")] = 64,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds; medians are reported.")] = 2,
    request_timeout: Annotated[float, typer.Option(help="Seconds a request may take before the run fails.")] = 600.0,
    mlx_lm_threads: Annotated[Optional[int], typer.Option(
        help="OPENBLAS_NUM_THREADS for mlx-lm's server (default: OpenBLAS's own count; ours follows the free cores).")] = None,
    mlx_lm_prompt_cache: Annotated[int, typer.Option(
        help="mlx-lm's --prompt-cache-size; 0 (default) also turns ours off, more keeps ours on "
             "(the run repeats its prompts, so a cache skips the 8-client round's prefill).")] = 0,
    requests_per_client: Annotated[int, typer.Option(
        help="Requests each concurrent client sends in turn (1: one burst; more: a server kept busy).")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Write the raw JSON results here.")] = None,
) -> None:
    from .. import blas, heap, vocab_stats
    from .report import cpu_name, save_json

    try:
        settings = Settings(model, clients, max_tokens, rounds, request_timeout, mlx_lm_threads,
                            mlx_lm_prompt_cache, requests_per_client).check()
        load_before = os.getloadavg()
        result = run_benchmark(settings, on_run=lambda r: print(
            f"round {r.round}: {r.server}, {r.clients} client(s): {r.tokens} tokens in {r.wall_s:.1f} s "
            f"= {r.tokens_per_s:.2f} tokens/s", file=sys.stderr, flush=True))
    except BenchError as e:
        raise SystemExit(f"server_batching: {e}") from None
    report = {"command": " ".join(["uv run benchmarks/server_batching.py", *sys.argv[1:]]),
              "settings": asdict(settings), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
              "blas": blas.info().describe(), "heap": heap.describe(), "logit_stats": vocab_stats.describe(),
              "mlx": importlib.metadata.version("mlx"), "mlx_lm": importlib.metadata.version("mlx-lm"),
              "load_average_before": load_before, "load_average_after": os.getloadavg(), **result}
    save_json(out, report)
    print(f"Weights: {result['weights']}")
    print(f"Load average before/after: {load_before[0]:.1f} / {report['load_average_after'][0]:.1f}\n")
    print("\n".join(report_lines(result, settings.clients)))
    c = result["checks"]
    if not (c["every_token_has_entropix"] and c["concurrent_texts_equal_lone"]):
        raise SystemExit("server_batching: a check failed (see above)")


def cli() -> None:
    typer.run(main)
