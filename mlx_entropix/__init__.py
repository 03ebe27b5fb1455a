"""mlx-entropix: entropy-based adaptive sampling on MLX.

Importing the package first loads an optimised BLAS for MLX's CPU backend on
Linux (blas.py): it must happen before MLX itself is imported. It also keeps
the memory MLX frees for its next arrays (heap.py: glibc's thresholds).
"""

from . import blas, heap

blas.load()
heap.keep_freed()
