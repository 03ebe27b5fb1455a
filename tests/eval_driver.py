"""Runs the real `eval` command with the fake model, as its own process: the
resume test kills it mid-run and `mlx.launch` starts it once per rank.

Usage: python tests/eval_driver.py --dataset F --out D [any eval option];
EVAL_FAKE_SLEEP=seconds slows every decode step down."""

import os
import sys
import types

import typer
from eval_fakes import FakeDecoder

import mlx_entropix.eval
from mlx_entropix.eval.cli import eval_command

model = types.ModuleType("mlx_entropix.eval.model")
model.make_decoder = lambda model_ref, specs, batch: (
    FakeDecoder(max_batch=batch, sleep_s=float(os.environ.get("EVAL_FAKE_SLEEP", "0"))), specs)
sys.modules["mlx_entropix.eval.model"] = model
mlx_entropix.eval.model = model

if __name__ == "__main__":
    typer.run(eval_command)
