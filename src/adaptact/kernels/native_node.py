"""The fused unit's autograd node in C++, for the dispatcher's fast path on CPU.

A CPU call whose signature the C backend already served (see
:func:`adaptact.kernels.backends._fast_cpu_call`) runs the same C kernels as
:class:`~adaptact.kernels.fused.FusedUnit`; this module lets it run them from
a C++ ``torch::autograd::Function`` (``native_node.cpp``), so that neither its
forward nor its backward executes Python: for each signature,
:func:`prepare` hands the C++ side the kernels' addresses, the input's
:class:`~adaptact.kernels.fused.Layout` and the parameters'
:class:`~adaptact.kernels.fused.Gather`, and :func:`apply` calls
``torch.ops.adaptact_native.call``. The arithmetic is the Python node's (the
same kernels, packing and unpacking), so both give the same bits; the saved
tensors are the same (the input and the parameters). A backward with
``create_graph=True`` comes back to Python (``reference_vjp``, the
reference's graph, as in :class:`FusedUnit`).

The extension is compiled against the installed torch's headers the first
time a signature is served, in a background thread (about 20 s of one core),
and cached beside the C kernels (``adaptact.kernels.c_build.cache_dir``,
checked by size and SHA-256 before it is loaded; one process builds it while
others wait for that build); until it is loaded, and
whenever it cannot be built (no C++ compiler, no torch headers), calls take
the Python node, with one log line saying why. ``ADAPTACT_NATIVE_NODE=0``
turns it off; :func:`wait` builds it now (for tests and benchmarks).
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import Tensor

try:
    import fcntl
except ImportError:  # not POSIX: no lock; parallel processes may each build it (written atomically)
    fcntl = None  # type: ignore[assignment]

from adaptact import functional as AF
from adaptact.cachedir import write_bytes_atomic
from adaptact.kernels import c_engine
from adaptact.kernels.c_build import _fingerprint, _sidecar, cache_dir, library_problem
from adaptact.kernels.fused import FusedCall, Layout, _differentiable_grads

__all__ = ["apply", "enabled", "loaded", "prepare", "problem", "ready", "set_enabled", "wait"]

log = logging.getLogger("adaptact.kernels")

ENV = "ADAPTACT_NATIVE_NODE"
SOURCE = Path(__file__).with_name("native_node.cpp")
#: the seed argument of :func:`apply` that makes the node draw a stochastic call's seed itself, from torch's
#: default generator as :func:`adaptact.kernels.fused.draw_seed` does (the same number, the same state after)
DRAW = -1
#: signatures prepared at most (beyond it calls keep the Python node: the registry never shrinks)
HANDLE_LIMIT = 1 << 16


class _State:
    enabled = os.environ.get(ENV, "1") != "0"
    #: "idle", "building", "built" (in the cache, not loaded yet), "ready" or "failed"
    stage = "idle"
    problem: Optional[str] = None
    library: Optional[Path] = None
    thread: Optional[threading.Thread] = None
    #: the compiler while it runs, and its scratch folder
    process: Optional[subprocess.Popen] = None
    scratch: Optional[Path] = None
    lock = threading.Lock()
    #: handle -> (call, the ctypes library whose kernels the handle points to: kept loaded)
    calls: dict[int, tuple[FusedCall, ctypes.CDLL]] = {}
    torch_library: Optional[torch.library.Library] = None


def _cxx() -> Optional[str]:
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return next((p for p in map(shutil.which, names) if p), None)


def _command(cxx: str, source: Path, target: Path) -> list[str]:
    from torch.utils import cpp_extension

    includes = [f"-I{p}" for p in cpp_extension.include_paths()]
    libs = cpp_extension.library_paths()
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}", *includes,
            str(source), "-o", str(target),
            *[f"-L{p}" for p in libs], *[f"-Wl,-rpath,{p}" for p in libs], "-lc10", "-ltorch_cpu", "-ltorch"]


def _target(cxx: str, version: str) -> Path:
    identity = "\n".join([SOURCE.read_text(), cxx, version, torch.__version__, str(Path(torch.__file__).parent)])
    return cache_dir() / f"adaptact_native_{hashlib.sha256(identity.encode()).hexdigest()[:24]}.so"


def _build() -> None:
    """Build (or find in the cache) the extension; sets the stage to "built" or "failed" (background thread).

    A lock file beside the library makes one process build it while the others wait for that build (in
    their background threads); a build still running when the process exits is stopped (:func:`_stop_build`).
    """
    try:
        cxx = _cxx()
        if cxx is None:
            raise RuntimeError("no C++ compiler (set CXX)")
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        target = _target(cxx, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another process building it: wait for its build
            if not target.exists() or library_problem(target) is not None:
                _compile(cxx, target)
        _State.library, _State.stage = target, "built"
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        _fail(f"the C++ autograd node could not be built ({str(e).splitlines()[0] if str(e) else type(e).__name__})")


def _compile(cxx: str, target: Path) -> None:
    """Compile the node into ``target`` (the caller holds the build lock, so no other live process is
    building: scratch folders left by a killed process are removed first)."""
    log.info("adaptact.kernels: building the C++ autograd node %s (once, about 20 s)", target.name)
    for stale in target.parent.glob("native-build-*") if fcntl is not None else ():
        shutil.rmtree(stale, ignore_errors=True)
    _State.scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix="native-build-"))
    try:
        out = _State.scratch / "native.so"
        _State.process = subprocess.Popen(_command(cxx, SOURCE, out), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True, start_new_session=True)
        _, err = _State.process.communicate()
        if _State.process.returncode != 0:
            raise RuntimeError(f"{cxx} failed: {(err.strip().splitlines() or ['(no message)'])[-1]}")
        os.replace(out, target)
        write_bytes_atomic(_sidecar(target), json.dumps(_fingerprint(target)).encode())
    finally:
        _State.process = None
        shutil.rmtree(_State.scratch, ignore_errors=True)


@atexit.register
def _stop_build() -> None:
    """At exit, stop a build still running (else the compiler outlives the process) and remove its folder."""
    process = _State.process
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the compiler driver and its cc1plus
        except (AttributeError, OSError):
            process.kill()
        process.wait()
    if _State.scratch is not None:
        shutil.rmtree(_State.scratch, ignore_errors=True)


def _fail(reason: str) -> None:
    _State.problem, _State.stage = reason, "failed"
    log.info("adaptact.kernels: %s; served CPU calls keep the Python autograd node", reason)


def _reference_vjp(handle: int, seed: int, tensors: Sequence[Tensor], dy: Tensor,
                   needed: int) -> tuple[list[Tensor], int]:
    """The C++ node's backward with a graph: the reference's vector-Jacobian product (as FusedUnit's; a
    stochastic call replays the kernel's draws of its ``seed``)."""
    call = _State.calls[handle][0]._replace(seed=seed)
    grads = _differentiable_grads(call, tensors, dy, [bool(needed >> i & 1) for i in range(len(tensors))])
    return [g for g in grads if g is not None], sum(1 << i for i, g in enumerate(grads) if g is not None)


def _load() -> None:
    """Load the built extension in the calling thread (the first call after the build finished)."""
    assert _State.library is not None
    problem = library_problem(_State.library)
    if problem is not None:
        return _fail(f"the built C++ autograd node is damaged ({problem})")
    try:
        torch.ops.load_library(str(_State.library))
        lib = torch.library.Library("adaptact_native", "IMPL")
        lib.impl("reference_vjp", _reference_vjp, "CompositeImplicitAutograd")
    except (OSError, RuntimeError) as e:
        return _fail(f"the C++ autograd node could not be loaded ({str(e).splitlines()[0]})")
    _State.torch_library, _State.stage = lib, "ready"
    torch.ops.adaptact_native.set_graph_enabled(_State.enabled)


def ready() -> bool:
    """Whether served CPU calls use the C++ node now (starts its build, once, when it has not begun)."""
    if not _State.enabled:
        return False
    stage = _State.stage
    if stage == "ready":
        return True
    if stage in ("building", "failed"):
        return False
    with _State.lock:
        if _State.stage == "idle":
            _State.stage = "building"
            _State.thread = threading.Thread(target=_build, name="adaptact-native-node", daemon=True)
            _State.thread.start()
        elif _State.stage == "built":
            _load()
    return _State.stage == "ready"


def wait(timeout: Optional[float] = None) -> bool:
    """Build and load the C++ node now (blocking); whether it is in use."""
    ready()
    thread = _State.thread
    if thread is not None:
        thread.join(timeout)
    return ready()


def problem() -> Optional[str]:
    """Why the C++ node is not used (None when it is or may still be)."""
    return "turned off (ADAPTACT_NATIVE_NODE=0 or set_enabled(False))" if not _State.enabled else _State.problem


def enabled() -> bool:
    return _State.enabled


def set_enabled(on: bool) -> bool:
    """Turn the C++ node on or off for the calls that follow (the Python node is used when off); the
    previous setting."""
    was, _State.enabled = _State.enabled, bool(on)
    if loaded():  # the compiled graphs' C++ kernels (custom_ops) read their own switch
        torch.ops.adaptact_native.set_graph_enabled(_State.enabled)
    return was


def loaded() -> bool:
    """Whether the extension is loaded in this process (whether or not it is switched on)."""
    return _State.stage == "ready"


def _address(fn: object) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


def _theta_inputs(inputs: Optional[tuple], tensors: Sequence[Tensor]) -> tuple[str, int, int]:
    """``(normalization, weights index, basis parameters index)`` of a blend's theta among the call's tensors
    (``""``, -1, -1 when the call passes its theta: no ``inputs``)."""
    if inputs is None:
        return "", -1, -1
    normalization, weights, params = inputs  # an unknown normalization: refused by adaptact_native::prepare

    def index(t: Optional[Tensor]) -> int:
        if t is None:
            return -1
        found = [i for i, u in enumerate(tensors) if u is t]
        if len(found) != 1:
            raise ValueError("a theta input is not one of the call's tensors")
        return found[0]

    return normalization, index(weights), index(params)


def prepare(call: FusedCall, tensors: Sequence[Tensor], theta: Optional[Tensor] = None,
            inputs: Optional[tuple] = None) -> Optional[int]:
    """The C++ handle of a served signature's ``call`` (``tensors``: a call of that signature's; ``theta``: its
    packed parameters when the call passes them, no gather), or None while the node is not ready or cannot
    take it (too many signatures). ``inputs`` (a blend's theta: ``(normalization, weights, basis_params)``,
    :data:`adaptact.kernels.lowering.THETA_INPUTS`): the C++ node then computes theta itself, with the
    torch operations of :func:`~adaptact.kernels.lowering.blend_theta`, and its calls pass None."""
    gather = call.gather
    if (gather is None) == (theta is None):
        raise ValueError("a served call has either a gather or a theta of its own")
    normalization, weights, params = _theta_inputs(inputs, tensors)
    if not ready() or len(_State.calls) >= HANDLE_LIMIT:
        return None
    lib = c_engine._library(call.program)
    groups, width = gather.shape if gather is not None else theta.shape
    x_index = call.reference.x_index
    layout = Layout.of(tensors[x_index], groups)
    sizes = list(gather.sizes) if gather is not None else [0 if i == x_index else t.numel()
                                                             for i, t in enumerate(tensors)]
    handle = int(torch.ops.adaptact_native.prepare(
        _address(lib.fwd_rows), _address(lib.bwd_rows), _address(lib.fwd_cols), _address(lib.bwd_cols),
        layout.columns, layout.rows, layout.length, layout.channels, groups, width,
        x_index, sizes, -1 if gather is None or gather.single is None else gather.single,
        gather is None or gather.identity, None if gather is None or gather.identity else gather.index.cpu().long(),
        gather is None, normalization, weights, params, AF._TINY,
    ))
    _State.calls[handle] = (call, lib)
    return handle


def apply(handle: int, seed: int, theta: Optional[Tensor], tensors: Sequence[Tensor]) -> Tensor:
    """``y`` of a prepared call through the C++ node (``seed``: a stochastic program's, or :data:`DRAW`, else 0;
    ``theta``: the packed parameters of a call without a gather whose handle does not compute them, else
    None)."""
    return torch.ops.adaptact_native.call.default(handle, seed, theta, tensors)
