"""Compile one of the package's C files into a shared library in the user cache.

Used by the split matmul (blas_split.c) and the logit statistics
(vocab_stats.c): built once per source and compiler, with the C compiler
found (CC, else cc or gcc), atomically (a failed build leaves nothing behind).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


class BuildError(RuntimeError):
    """The library cannot be built; the message says why."""


def compiler(what: str) -> str:
    """The C compiler to build `what` with: CC, else cc or gcc on PATH."""
    found = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not found:
        raise BuildError(f"no C compiler to build {what} (install gcc, or set CC)")
    return found


def build(source: Path, stem: str, folder: Path, what: str, libs: tuple[str, ...] = ()) -> Path:
    """`folder`/`stem`-<hash>.so compiled from `source` (once per source and
    compiler); `what` names it in errors. Raises BuildError."""
    cc = compiler(what)
    key = hashlib.sha256(source.read_bytes() + b"\0" + cc.encode()).hexdigest()[:16]
    target = folder / f"{stem}-{key}.so"
    if target.is_file():
        return target
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot make {folder} to build {what} in: {e}") from None
    try:
        result = subprocess.run([cc, "-O3", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(tmp), str(source),
                                 *libs], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cannot run the C compiler {cc}: {e}") from None
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise BuildError(f"{cc} could not build {what}: {first}")
    try:
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cannot keep {what} in {folder}: {e}") from None
    return target
