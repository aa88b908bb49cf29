"""Checks of command-line values and paths, made before a command does any work.

Each check takes the text given on the command line and returns the parsed value, or
raises :class:`argparse.ArgumentTypeError` saying what is wrong with it; used as an
``argparse`` ``type=``, argparse turns that into ``PROG: error: argument --opt: MESSAGE``.
:func:`check` applies one to a value computed later (a default path, a ``--set`` field)
and raises :class:`UsageError` in the same words. Shared by ``adaptact`` (:mod:`adaptact.cli`)
and ``benchmarks/units.py`` (:mod:`adaptact.bench`).

Path checks create nothing: an output path is accepted when it is not a folder (for a
file) or not a file (for a folder) and its nearest existing ancestor is a folder in which
a file can be created (tried with a temporary file, so a read-only file system or missing
permission is caught even for root).
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

__all__ = [
    "MAX_ELEMENTS", "MAX_SEED", "UsageError", "check", "compute_device", "device", "existing_folder",
    "finite_positive_float", "output_file", "output_folder", "positive_int", "seed", "shape",
]

#: the largest seed every generator takes (torch's are 64-bit; 2**63 - 1 keeps it signed)
MAX_SEED = 2**63 - 1
#: the largest tensor a shape may describe: 2**30 elements (4 GiB in float32)
MAX_ELEMENTS = 2**30

T = TypeVar("T")


class UsageError(ValueError):
    """A command-line argument or path is refused before any work; the CLI exits with status 2."""


def check(option: str, parse: Callable[[str], T], value) -> T:
    """``parse(value)``, with a refusal reported as ``UsageError("argument OPTION: ...")`` (argparse's words)."""
    try:
        return parse(value)
    except argparse.ArgumentTypeError as err:
        raise UsageError(f"argument {option}: {err}") from None


def _integer(text) -> int:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}")
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}") from None


def positive_int(maximum: int | None = None) -> Callable[[str], int]:
    """A check for an integer in ``[1, maximum]``."""

    def parse(text) -> int:
        n = _integer(text)
        if n < 1 or (maximum is not None and n > maximum):
            bound = f"from 1 to {maximum}" if maximum is not None else ">= 1"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return n

    parse.__name__ = "positive integer"
    return parse


def seed(text) -> int:
    """An integer seed in ``[0, MAX_SEED]``."""
    n = _integer(text)
    if not 0 <= n <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be an integer from 0 to 2**63 - 1, got {text!r}")
    return n


def finite_positive_float(text) -> float:
    """A finite number > 0 (``inf``, ``nan``, ``1e400`` and ``0`` are refused)."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return x


def shape(text: str) -> tuple[int, ...]:
    """``N,C,...``: positive integers separated by commas, describing at most :data:`MAX_ELEMENTS` elements."""
    parts = str(text).split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is positive integers separated by commas "
                                         f"(e.g. 64,64,32,32), got {text!r}") from None
    if any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"every size of a shape must be >= 1, got {text!r}")
    if math.prod(dims) > MAX_ELEMENTS:
        raise argparse.ArgumentTypeError(f"shape {text!r} has {math.prod(dims)} elements; at most 2**30 are allowed")
    return dims


def _device(text: str, choices: tuple[str, ...]) -> str:
    kind, colon, index = str(text).partition(":")
    if kind not in choices or (colon and (kind != "cuda" or not index.isdigit())):
        raise argparse.ArgumentTypeError(f"device must be {', '.join(choices)} (or cuda:N), got {text!r}")
    if kind == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"device {text!r} asked for, but CUDA is not available on this machine")
        if colon and int(index) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"device {text!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return str(text)


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; CUDA ones only when that device exists."""
    return _device(text, ("auto", "cpu", "cuda"))


def compute_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (no ``auto``); CUDA ones only when that device exists."""
    return _device(text, ("cpu", "cuda"))


def _creatable_in(folder: Path, path: Path, what: str) -> None:
    """Refuse ``path`` unless the nearest existing one of ``folder`` and its ancestors is a folder where a
    file can be created."""
    base = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {what} {str(path)!r}: {str(base)!r} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".adaptact-write-test-")
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot write {what} {str(path)!r}: no write access to {str(base)!r} "
                                         f"({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)


def output_file(text: str) -> Path:
    """A file to write: not an existing folder, and creatable (its folders may still be missing)."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a folder; give the name of the file to write")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot overwrite {str(path)!r} (no write permission)")
    _creatable_in(path.parent, path, "the file")
    return path


def output_folder(text: str) -> Path:
    """A folder to write into: not an existing file, and creatable or writable."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a file, not a folder")
    _creatable_in(path, path, "into")
    return path


def existing_folder(text: str) -> Path:
    """A folder that exists (to read from)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such folder: {str(path)!r}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a file, not a folder")
    return path
