"""The `mlx_main.py` command line (see app.py)."""
