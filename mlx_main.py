"""Entropix sampling on MLX from the terminal: `uv run mlx_main.py --help`."""

if __name__ == "__main__":
    from mlx_entropix.cli.app import main

    main()
