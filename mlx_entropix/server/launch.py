"""mlx_server.py (or another server, such as mlx-lm's) in a subprocess on a
free loopback port, for the benchmarks and the tests: started, waited for until
/health answers, and always stopped."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().parents[2] / "mlx_server.py"


class ServerStartError(RuntimeError):
    """The server exited or never became healthy; carries the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status == 200
    return False


@contextlib.contextmanager
def running_process(argv: list[str], port: int, name: str, timeout: float = 300.0,
                    env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `argv` (a server that will listen on 127.0.0.1:`port`), wait until
    /health answers, yield its base URL, and always stop it (also on error or
    Ctrl-C). If it exits or stays silent past `timeout`, ServerStartError
    carries its log."""
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(argv, cwd=SERVER_SCRIPT.parent, stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else \
                        f"did not answer /health within {timeout:.0f} s"
                    raise ServerStartError(f"{name} {state}: {log.read()[-2000:]}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_server(*args: str, timeout: float = 300.0) -> Iterator[str]:
    """Start `mlx_server.py --port <free> *args`; yield its base URL."""
    port = free_port()
    with running_process([sys.executable, str(SERVER_SCRIPT), "--port", str(port), *args], port,
                         "mlx_server.py", timeout) as url:
        yield url
