"""The single dispatcher: implementations per (family, backend), the backend choice, and the fallback rule.

A *family* is one function of :mod:`adaptact.functional` (``pau``, ``blend``,
...); a *backend* is a way to compute it (``reference``, ``c``, ``triton``).
An :class:`Implementation` of a family by a backend *prepares* a call: given
the reference's arguments it returns a zero-argument callable that computes
the result, or a string saying why it cannot serve this call (device, dtype,
shapes, options, an engine that is not built, tracing by ``torch.compile``).

The *mode* says which backends may serve a call, tried in order:

- ``"auto"`` (default): every backend in :data:`PRIORITY` order, ending with the reference;
- ``"fused"``: every backend but the reference;
- a backend name: only that backend.

A backend is only asked about calls on the device types it *serves*
(:attr:`Backend.serves`): a CPU call never looks at the Triton backend.
In ``auto`` a call always finds the reference at the end; in the other modes a
call no allowed backend can serve raises :class:`KernelUnavailable` with each
backend's reason, never a silent fallback. The mode is set by :func:`use`
(a setter and a context manager) or the environment variable
``ADAPTACT_KERNELS`` (read at import).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

import torch

__all__ = [
    "Backend", "FAST_PATH_MODES", "Implementation", "KernelUnavailable", "PRIORITY", "available", "current",
    "dispatch", "implementations", "record", "register_backend", "register_fast_path", "register_implementation",
    "use",
]

#: backends in the order ``auto`` tries them
PRIORITY = ("triton", "c", "reference")
MODES = ("auto", "fused")
ENV_VAR = "ADAPTACT_KERNELS"

Prepared = Union[Callable[[], Any], str]


class KernelUnavailable(RuntimeError):
    """A forced backend cannot compute a call."""


@dataclass(frozen=True)
class Backend:
    """A way of computing families; ``unavailable()`` says why it cannot run in this process (None if it can).

    ``serves(device_type)`` says whether the backend may compute a call whose
    input lives on that device type (``"cpu"``, ``"cuda"``, ...); the
    dispatcher never asks the others (every device when None).
    """

    name: str
    unavailable: Callable[[], Optional[str]]
    serves: Optional[Callable[[str], bool]] = None


@dataclass(frozen=True)
class Implementation:
    """One family computed by one backend.

    ``prepare(*args, **kwargs)`` takes the reference function's arguments and
    returns a callable computing the result, or the reason it cannot.
    """

    family: str
    backend: str
    prepare: Callable[..., Prepared]

    def supports(self, *args: Any, **kwargs: Any) -> bool:
        """Whether this implementation can compute the call with these arguments."""
        return not isinstance(self.prepare(*args, **kwargs), str)


_BACKENDS: dict[str, Backend] = {}
_IMPLEMENTATIONS: dict[str, dict[str, Implementation]] = {}


def register_backend(backend: Backend) -> None:
    if backend.name not in PRIORITY:
        raise ValueError(f"backend {backend.name!r} is not in the priority list {PRIORITY}")
    _BACKENDS[backend.name] = backend


def register_implementation(impl: Implementation) -> None:
    if impl.backend not in _BACKENDS:
        raise ValueError(f"register backend {impl.backend!r} before its implementations")
    _IMPLEMENTATIONS.setdefault(impl.family, {})[impl.backend] = impl


def implementations(family: str) -> dict[str, Implementation]:
    """The implementations of ``family`` by backend name."""
    return dict(_IMPLEMENTATIONS[family])


def _check_mode(name: str) -> str:
    if name in MODES or name in _BACKENDS:
        return name
    raise ValueError(
        f"unknown kernel backend {name!r} (from use() or ${ENV_VAR}); choose from {list(MODES) + list(_BACKENDS)}"
    )


class _State:
    mode: str = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    recorders: list[list[str]] = []
    #: the last mode :func:`current` accepted (so that a call checks the mode only when it changed)
    checked: Optional[str] = None
    #: see :func:`register_fast_path`
    fast_path: Optional[Callable[[str, tuple, dict], Optional[Callable[[], Any]]]] = None


#: modes in which a CPU call goes to the C backend first (the fast path's precondition)
FAST_PATH_MODES = ("auto", "fused", "c")


def register_fast_path(fn: Callable[[str, tuple, dict], Optional[Callable[[], Any]]]) -> None:
    """``fn(family, args, kwargs)`` returns the prepared call of a call whose signature the C backend has
    already served (every check that depends on the signature passed then), or None: the dispatcher then
    takes the general path. Asked only in :data:`FAST_PATH_MODES` and while no :func:`record` is open."""
    _State.fast_path = fn


def current() -> str:
    """The mode in force: ``"auto"``, ``"fused"`` or a backend name."""
    return _check_mode(_State.mode)


@contextmanager
def record() -> Iterator[list[str]]:
    """``with kernels.record() as used: ...`` lists the backend of every call dispatched in the block."""
    used: list[str] = []
    _State.recorders.append(used)
    try:
        yield used
    finally:
        _State.recorders.remove(used)


def available() -> list[str]:
    """The backends that can run in this process, in priority order (``reference`` always)."""
    return [name for name in PRIORITY if name in _BACKENDS and _BACKENDS[name].unavailable() is None]


class use:
    """Set the kernel mode: ``kernels.use("reference")`` sets it for the process;
    ``with kernels.use("c"): ...`` sets it for a block and restores the previous one.

    ``name`` is ``"auto"``, ``"fused"`` or a backend name (see :func:`available`).
    """

    def __init__(self, name: str) -> None:
        self.previous = _State.mode
        _State.mode = _check_mode(name)

    def __enter__(self) -> "use":
        return self

    def __exit__(self, *exc: Any) -> None:
        _State.mode = self.previous


def _candidates(family: str, mode: str) -> list[Implementation]:
    impls = _IMPLEMENTATIONS[family]
    if mode == "auto":
        names = PRIORITY
    elif mode == "fused":
        names = tuple(n for n in PRIORITY if n != "reference")
    else:
        names = (mode,)
    return [impls[n] for n in names if n in impls]


def _device_type(args: tuple, kwargs: dict) -> Optional[str]:
    """The device type of the call's input (its first argument, or ``x=``); None when it is no tensor."""
    x = args[0] if args else kwargs.get("x")
    return x.device.type if hasattr(x, "device") else None


def _serves(backend: str, device_type: Optional[str]) -> bool:
    serves = _BACKENDS[backend].serves
    return serves is None or device_type is None or serves(device_type)


def dispatch(family: str, *args: Any, **kwargs: Any) -> Any:
    """Compute ``family`` with the first backend the mode allows that can serve this call."""
    mode = _State.mode
    if torch.compiler.is_compiling():  # checked at each trace, remembered by none: a graph guards on the mode
        mode = current()               # only (remembering it would guard on the memo and retrace at once)
    elif mode is not _State.checked:  # a new mode (the environment's, or one use() restored): check it once
        _State.checked = mode = current()
    if _State.fast_path is not None and mode in FAST_PATH_MODES and not _State.recorders:
        ready = _State.fast_path(family, args, kwargs)
        if ready is not None:
            return ready()
    device_type = _device_type(args, kwargs)
    reasons = []
    for impl in _candidates(family, mode):
        if not _serves(impl.backend, device_type):
            reasons.append(f"{impl.backend}: does not run on {device_type} tensors")
            continue
        prepared = impl.prepare(*args, **kwargs)
        if not isinstance(prepared, str):
            for used in _State.recorders:
                used.append(impl.backend)
            return prepared()
        reasons.append(f"{impl.backend}: {prepared}")
    if not reasons:
        reasons.append(f"{mode}: has no implementation of {family}")
    raise KernelUnavailable(f"kernel mode {mode!r} cannot compute {family} for this call ({'; '.join(reasons)})")
