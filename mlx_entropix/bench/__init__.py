"""Speed of our engine against mlx-lm on the same weights and prompt (issue 7).

measure: timing one generation; variants: what is timed (mlx-lm, our engine);
branches: batched branching vs one sequence; server: SSE client vs in-process;
report: markdown and JSON; cli: the `benchmarks/bench.py` command.
"""
