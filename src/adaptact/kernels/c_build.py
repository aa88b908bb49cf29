"""Build generated C at first use, keep the shared library in a disk cache, load it with ctypes.

No torch headers are involved: a kernel is a plain C file compiled by the
system's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) in well under
a second per program. The library is cached under
``$ADAPTACT_CACHE/kernels`` (default ``$XDG_CACHE_HOME/adaptact/kernels`` or
``~/.cache/adaptact/kernels``) by a hash of the source, compiler, flags and
CPU, and written atomically, so parallel processes may build the same kernel.

The cache is trusted only as far as it is checked, since a library in it runs
inside this process:

- the folder is used only when it is private (owned by this user, writable by
  no one else, see :func:`adaptact.cachedir.private_folder`); otherwise a
  fresh private temporary folder is used;
- each library has a sidecar ``<name>.json`` with its size and SHA-256, written
  at build time; a library is loaded only when it matches its sidecar, and is
  rebuilt otherwise (a truncated library mapped into memory kills the process
  with a bus error);
- the compiler probe is remembered as a JSON marker naming the compiler and
  the index of the flag set that worked (never flags read from the file); a
  marker that does not parse or does not match is ignored and the probe redone.

When no compiler works, :func:`compiler` returns ``None`` after one log line
on the ``adaptact.kernels`` logger and the dispatcher uses the reference path:
importing adaptact never needs a compiler. A failed probe is not remembered.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
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

from adaptact.cachedir import cache_home, private_folder, write_bytes_atomic

__all__ = ["Compiler", "cache_dir", "compiler", "library_path", "library_problem", "load_library"]

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


def _user() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


@lru_cache(maxsize=None)
def _private_kernel_folder(usual: Path) -> Path:
    fallback = Path(tempfile.gettempdir()) / f"adaptact-kernels-{_user()}"
    return private_folder([usual, fallback], prefix=f"adaptact-kernels-{_user()}-")


def cache_dir() -> Path:
    """Where built kernels are kept: the usual cache folder when it is private, else
    ``$TMPDIR/adaptact-kernels-<uid>`` when that is, else a fresh private temporary folder."""
    return _private_kernel_folder(cache_home("kernels"))


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
        """Compile ``source`` into the shared library ``target`` and its sidecar (atomically); raises on failure."""
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
            write_bytes_atomic(_sidecar(target), json.dumps(_fingerprint(target)).encode())


def _sidecar(library: Path) -> Path:
    return library.with_name(library.name + ".json")


def _fingerprint(path: Path) -> dict:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def library_problem(library: Path) -> Optional[str]:
    """Why the cached ``library`` may not be loaded (``None`` when it matches the size and
    SHA-256 its sidecar recorded at build time)."""
    try:
        want = json.loads(_sidecar(library).read_text())
    except FileNotFoundError:
        return "it has no checksum file"
    except (OSError, ValueError) as e:
        return f"its checksum file is unreadable ({e})"
    try:
        got = _fingerprint(library)
    except OSError as e:
        return f"it cannot be read ({e})"
    if not isinstance(want, dict) or want != got:
        return f"it is {got['size']} bytes with SHA-256 {got['sha256'][:12]}..., not as recorded at build time"
    return None


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


def _remembered(marker: Path, path: str, version: str) -> Optional[Compiler]:
    """The compiler a probe marker records, or ``None`` when it is missing, garbled or about another compiler.

    The marker names the flag set by its index in :data:`FLAG_SETS`; flags are never read from it.
    """
    try:
        known = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(known, dict) or known.get("compiler") != path or known.get("version") != version:
        return None
    index = known.get("flag_set")
    if type(index) is not int or not 0 <= index < len(FLAG_SETS):
        return None
    return Compiler(path, FLAG_SETS[index], version)


def _marker(path: str, version: str) -> Path:
    """Where the probe of the compiler ``path`` (of ``version``) on this CPU is remembered."""
    key = hashlib.sha256("\n".join([path, version, platform.machine(), _cpu_flags()]).encode()).hexdigest()[:16]
    return cache_dir() / f"compiler_{key}.json"


def _probe(path: str, version: str) -> Optional[Compiler]:
    """The first flag set with which ``path`` builds a probe (a success is remembered in the cache folder)."""
    marker = _marker(path, version)
    known = _remembered(marker, path, version)
    if known is not None:
        return known
    for index, flags in enumerate(FLAG_SETS):
        c = Compiler(path, flags, version)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                c.build(_PROBE, Path(tmp) / "probe.so")
        except (OSError, RuntimeError):
            continue
        try:
            record = {"compiler": path, "version": version, "flag_set": index}
            write_bytes_atomic(marker, json.dumps(record).encode())
        except OSError:
            pass
        return c
    return None


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


def library_path(c: Compiler, source: str) -> Path:
    """Where the library built from ``source`` by ``c`` is cached."""
    key = hashlib.sha256((c.identity + "\n" + source).encode()).hexdigest()[:24]
    return cache_dir() / f"adaptact_{key}.so"


@lru_cache(maxsize=None)
def load_library(source: str, signatures: Optional[tuple[tuple[str, tuple], ...]] = None) -> ctypes.CDLL:
    """The library built from ``source``: from the cache when it passes :func:`library_problem`, else built now.

    ``signatures``: ``(name, argtypes[, restype])`` of the functions to declare (default: the fused kernels' four
    entry points); without a ``restype`` a function returns nothing."""
    c = compiler()
    if c is None:
        raise RuntimeError("no working C compiler")
    target = library_path(c, source)
    problem = library_problem(target) if target.exists() else "it is not built yet"
    if problem is not None:
        damaged = _sidecar(target).exists()  # else new, or built before checksums were recorded
        level = logging.WARNING if damaged else logging.INFO
        log.log(level, "adaptact.kernels: building %s (%s)", target.name, problem)
        c.build(source, target)
    lib = ctypes.CDLL(str(target))
    for name, argtypes, *restype in (signatures if signatures is not None else tuple(_SIGNATURES.items())):
        fn = getattr(lib, name)
        fn.argtypes = list(argtypes)
        fn.restype = restype[0] if restype else None
    return lib
