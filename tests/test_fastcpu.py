import os
import sys

import pytest

from mlx_entropix import fastcpu


@pytest.fixture
def execs(monkeypatch):
    calls = []
    monkeypatch.setattr(fastcpu.os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    monkeypatch.setattr(fastcpu.sys, "platform", "linux")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    return calls


def test_switch_off_never_restarts(execs, monkeypatch):
    monkeypatch.delenv("MLX_ENTROPIX_DEQUANTIZE", raising=False)
    fastcpu.use_openblas()
    monkeypatch.setenv("MLX_ENTROPIX_DEQUANTIZE", "0")
    fastcpu.use_openblas()
    assert execs == []


def test_switch_on_restarts_once_with_openblas_preloaded(execs, monkeypatch):
    monkeypatch.setenv("MLX_ENTROPIX_DEQUANTIZE", "1")
    monkeypatch.setattr(fastcpu.ctypes.util, "find_library", lambda name: "libopenblas.so.0")
    fastcpu.use_openblas()
    (exe, argv, env), = execs
    assert exe == sys.executable and argv[1:] == sys.argv
    assert env["LD_PRELOAD"] == "libopenblas.so.0" and env["MLX_ENTROPIX_DEQUANTIZE"] == "1"
    os.environ["LD_PRELOAD"] = env["LD_PRELOAD"]
    try:
        fastcpu.use_openblas()  # the restarted process goes on
    finally:
        del os.environ["LD_PRELOAD"]
    assert len(execs) == 1


def test_switch_on_without_openblas_warns(execs, monkeypatch, capsys):
    monkeypatch.setenv("MLX_ENTROPIX_DEQUANTIZE", "1")
    monkeypatch.setattr(fastcpu.ctypes.util, "find_library", lambda name: None)
    fastcpu.use_openblas()
    assert execs == [] and "apt-get install libopenblas0-pthread" in capsys.readouterr().err
