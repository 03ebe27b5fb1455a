"""mlx-entropix: entropy-based adaptive sampling on MLX.

Importing the package first loads an optimised BLAS for MLX's CPU backend on
Linux (blas.py): it must happen before MLX itself is imported.
"""

from . import blas

blas.load()
