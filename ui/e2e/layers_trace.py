"""Write a short trace with per-layer attention arrays and branch points, for
the end-to-end run's heatmap and branch-tree checks (the server streams
neither per-layer arrays nor, reliably in a few tokens, a branch).

    uv run python ui/e2e/layers_trace.py OUT.json

Thresholds that put every token in the explore region make every step a
branch point; the embedded model keeps it a few seconds of work.
"""

import sys

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.load import load
from mlx_entropix.runner import RunRequest, run
from mlx_entropix.sampler import get_preset

config = get_preset("entropix").with_overrides(
    {"low_ent": 0.0, "med_ent": 100.0, "high_ent": 100.0, "low_vent": 0.0, "high_vent": 0.0,
     "n_branches": 2, "branch_max_tokens": 2})
request = RunRequest(messages=[{"role": "user", "content": "Name a colour."}], config=config,
                     options=GenerationOptions(max_tokens=6, seed=0, layers=True))
trace = run(load(None), request)
trace.save(sys.argv[1])
print(f"{len(trace.tokens)} tokens, {sum(t.branch is not None for t in trace.tokens)} branch points, "
      f"layers: {trace.tokens[0].layers is not None}")
