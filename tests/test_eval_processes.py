"""The eval command as real processes: killed mid-run and resumed, and split
over two ranks by mlx.launch on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_fakes import write_sum_dataset

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "eval_driver.py"
LAUNCH = Path(sys.executable).with_name("mlx.launch")
N = 16


def _env(**extra: str) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT)} | extra


def _driver(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [
        str(DRIVER),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--methods",
        "entropix,greedy,normal",
        "--seed",
        "5",
        *extra,
    ]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _summary(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    for key in ("command", "processes"):
        del summary["setup"][key]
    return summary


def _report_body(out: Path) -> list[str]:
    return [
        line
        for line in (out / "report.md").read_text().splitlines()
        if not line.startswith(("- command:", "- processes:"))
    ]


@pytest.fixture
def dataset(tmp_path):
    return write_sum_dataset(tmp_path / "sums.jsonl", N)


@pytest.fixture
def reference(dataset, tmp_path):
    out = tmp_path / "reference"
    done = subprocess.run(
        [sys.executable, *_driver(dataset, out)], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return out


def test_killed_run_resumes_without_losing_or_repeating_items(dataset, reference, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, *_driver(dataset, out)],
        env=_env(EVAL_FAKE_SLEEP="0.15"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    kept = results.read_text().count("\n")
    assert 3 <= kept < N
    # What a kill in the middle of a write leaves behind.
    with open(results, "a") as f:
        f.write('{"index": %d, "id": "q%d", "metho' % (kept, kept))

    refused = subprocess.run(
        [sys.executable, *_driver(dataset, out)], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    resumed = subprocess.run(
        [sys.executable, *_driver(dataset, out, "--resume")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert [r["index"] for r in _records(out)] == list(range(N))
    assert _records(out) == _records(reference)
    assert _summary(out) == _summary(reference)

    changed = subprocess.run(
        [sys.executable, *_driver(dataset, out, "--resume", "--max-tokens", "9")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode == 2 and "max_tokens was 256, now 9" in changed.stderr


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no two free neighbouring ports on 127.0.0.1")


def test_two_ranks_on_localhost_match_a_single_process_run(dataset, reference, tmp_path):
    out = tmp_path / "distributed"
    cmd = [
        str(LAUNCH),
        "--backend",
        "ring",
        "-n",
        "2",
        "--starting-port",
        str(_free_port_pair()),
        "--python",
        sys.executable,
        *_driver(dataset, out, "--distributed"),
    ]
    done = subprocess.run(
        cmd, env=_env(), cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )
    # mlx.launch exits 0 even when a rank fails, so judge by what was written.
    assert (out / "summary.json").exists(), done.stdout + done.stderr
    ranks = [  # each rank appends its items as they finish, several in flight at once
        sorted(json.loads(line)["index"] for line in (out / f"results.rank{r}.jsonl").read_text().splitlines())
        for r in (0, 1)
    ]
    assert ranks == [list(range(0, N, 2)), list(range(1, N, 2))]
    assert _records(out) == _records(reference)
    assert _summary(out) == _summary(reference)
    assert _report_body(out) == _report_body(reference)
    assert json.loads((out / "summary.json").read_text())["setup"]["processes"] == 2
    assert len(list((out / "traces").glob("*.json"))) == 3 * N
