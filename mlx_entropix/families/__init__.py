"""mlx-lm's model families under entropix: which ones run (support.py), how
their attention is seen (recorder.py), and the model the engine drives (model.py)."""

from .model import FamilyArgs, FamilyModel, load_family
from .support import UnsupportedFamily, check_family, family_of

__all__ = ["FamilyArgs", "FamilyModel", "UnsupportedFamily", "check_family", "family_of",
           "load_family"]
