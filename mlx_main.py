"""Entropix sampling on MLX from the terminal: `uv run mlx_main.py --help`."""

from mlx_entropix.fastcpu import use_openblas

if __name__ == "__main__":
    use_openblas()
    from mlx_entropix.cli.app import main

    main()
