"""Entropix sampling on MLX from the terminal: `uv run mlx_main.py --help`."""

from mlx_entropix.cli.app import main

if __name__ == "__main__":
    main()
