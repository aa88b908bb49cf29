"""Build generated C at first use, keep the shared library in a disk cache, load it with ctypes.

No torch headers are involved: a kernel is a plain C file compiled by the
system's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) in well under
a second per program. The library is cached under
``$ADAPTACT_CACHE/kernels`` (default ``$XDG_CACHE_HOME/adaptact/kernels`` or
``~/.cache/adaptact/kernels``) by a hash of the source, compiler, flags and
CPU, and written atomically, so parallel processes may build the same kernel.

When no compiler works, :func:`compiler` returns ``None`` after one log line
on the ``adaptact.kernels`` logger and the dispatcher uses the reference path:
importing adaptact never needs a compiler.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from adaptact.cachedir import cache_home

__all__ = ["Compiler", "cache_dir", "compiler", "load_library"]

log = logging.getLogger("adaptact.kernels")

#: flag sets tried in order: OpenMP threads + SIMD, then SIMD only, then plain
FLAG_SETS = (
    ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"),
    ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"),
    ("-O2",),
)
_PROBE = "#include <math.h>\nfloat probe(float x) { return fabsf(x); }\n"

_POINTER, _I64, _U64, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int
_SIGNATURES = {
    "fwd_rows": [_POINTER] * 3 + [_I64] * 3 + [_U64, _INT],
    "bwd_rows": [_POINTER] * 5 + [_I64] * 3 + [_U64, _INT],
    "fwd_cols": [_POINTER] * 3 + [_I64] * 2 + [_U64, _INT],
    "bwd_cols": [_POINTER] * 5 + [_I64] * 2 + [_U64, _INT],
}


def cache_dir() -> Path:
    """Where built kernels are kept (a per-user temporary folder when the usual one is not writable)."""
    folder = cache_home("kernels")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"adaptact-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


@dataclass(frozen=True)
class Compiler:
    """A working C compiler and the flags it accepts."""

    path: str
    flags: tuple[str, ...]
    version: str

    @property
    def identity(self) -> str:
        """What a built library depends on besides its source."""
        return "\n".join([self.path, self.version, " ".join(self.flags), platform.machine(), _cpu_flags()])

    def build(self, source: str, target: Path) -> None:
        """Compile ``source`` into the shared library ``target`` (atomically); raises on failure."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            src = Path(tmp) / "kernel.c"
            src.write_text(source)
            out = Path(tmp) / "kernel.so"
            cmd = [self.path, *self.flags, "-shared", "-fPIC", "-o", str(out), str(src), "-lm"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-4000:]}")
            os.replace(out, target)


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _candidates() -> list[str]:
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    return [p for p in (shutil.which(n) for n in names) if p]


def _probe(path: str, version: str) -> Optional[Compiler]:
    """The first flag set with which ``path`` builds a probe (remembered in the cache folder)."""
    key = hashlib.sha256("\n".join([path, version, platform.machine(), _cpu_flags()]).encode()).hexdigest()[:16]
    marker = cache_dir() / f"compiler_{key}.txt"
    try:
        known = marker.read_text().split()
        return Compiler(path, tuple(known), version) if known else None
    except OSError:
        pass
    found = None
    for flags in FLAG_SETS:
        c = Compiler(path, flags, version)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                c.build(_PROBE, Path(tmp) / "probe.so")
        except (OSError, RuntimeError):
            continue
        found = c
        break
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(" ".join(found.flags) if found else "")
    except OSError:
        pass
    return found


@lru_cache(maxsize=None)
def compiler() -> Optional[Compiler]:
    """The first compiler and flag set that builds a probe, or ``None`` (logged once)."""
    for path in _candidates():
        try:
            version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        except OSError:
            continue
        found = _probe(path, version)
        if found is not None:
            return found
    log.warning("adaptact.kernels: no working C compiler (set CC); the CPU fast paths are off, "
                "the reference implementation is used")
    return None


@lru_cache(maxsize=None)
def load_library(source: str) -> ctypes.CDLL:
    """The loaded library built from ``source`` (from the cache, or built now)."""
    c = compiler()
    if c is None:
        raise RuntimeError("no working C compiler")
    key = hashlib.sha256((c.identity + "\n" + source).encode()).hexdigest()[:24]
    target = cache_dir() / f"adaptact_{key}.so"
    if not target.exists():
        log.info("adaptact.kernels: building %s", target.name)
        c.build(source, target)
    lib = ctypes.CDLL(str(target))
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = None
    return lib
