"""The papers' tables as declarative experiment specs, and the runner that reproduces them.

>>> from adaptact.experiments import list_experiments, reproduce
>>> reproduce("pau-mnist-fmnist", "quick", overrides={"data_dir": "../shared/data"})

A user's experiment is an :class:`Experiment` in their own Python file, defining ``EXPERIMENT`` (or a
list ``EXPERIMENTS``); :func:`get_experiment` takes the file's path (``path/to/my_experiment.py``, or
``path/to/file.py:NAME`` to pick one of several), and :func:`register_experiment` adds an object made in
Python. Files loaded this way are loaded again by the sweep's worker processes (:func:`user_files`), so
models and data sets they register are known there too.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from adaptact.experiments.base import Cell, Column, Experiment, Profile, Published, Row
from adaptact.experiments.runner import load_records, reproduce, run_specs
from adaptact.naming import resolve_name

__all__ = [
    "Cell", "Column", "Experiment", "Profile", "Published", "Row",
    "get_experiment", "list_experiments", "load_experiment_file", "load_records", "register_experiment",
    "reproduce", "run_specs", "user_files",
]

#: one module per paper table; each defines EXPERIMENT or EXPERIMENTS
_MODULES = (
    "digits",
    "abu_table1",
    "abu_table2",
    "abu_table3",
    "farhadi_sim",
    "farhadi_mnist",
    "farhadi_mr",
    "farhadi_url",
    "davis",
    "adact_table1",
    "pau_mnist_fmnist",
    "pau_cifar10",
    "pau_pruning",
    "pau_imagenet",
    "pau_table5",
)


#: experiments added by :func:`register_experiment` or loaded from users' files, by name
_USER: dict[str, Experiment] = {}
#: users' experiment files loaded in this process (resolved path -> module)
_FILES: dict[str, object] = {}


def _builtin() -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for module in _MODULES:
        m = importlib.import_module(f"adaptact.experiments.{module}")
        for exp in getattr(m, "EXPERIMENTS", None) or [m.EXPERIMENT]:
            out[exp.name] = exp
    return out


def _all() -> dict[str, Experiment]:
    return {**_builtin(), **_USER}


def register_experiment(exp: Experiment) -> Experiment:
    """Make ``exp`` known by name (``get_experiment``, includes, reports in this process); a built-in name is refused."""
    if not isinstance(exp, Experiment):
        raise ValueError(f"register_experiment takes an Experiment, got {type(exp).__name__}")
    if exp.name in _builtin():
        raise ValueError(f"experiment {exp.name!r} is built in; give yours another name")
    _USER[exp.name] = exp
    return exp


def load_experiment_file(path: str | Path) -> list[Experiment]:
    """Import a user's Python file (once per process) and register the experiments it defines.

    Raises:
        ValueError: no such ``.py`` file, or it defines neither ``EXPERIMENT`` nor ``EXPERIMENTS``.
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.suffix != ".py" or not resolved.is_file():
        raise ValueError(f"experiment file {str(path)!r}: no such .py file")
    key = str(resolved)
    if key not in _FILES:
        name = f"adaptact_user_{resolved.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, resolved)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses and pickled functions find their module
        folder = str(resolved.parent)
        if folder not in sys.path:  # the file may import its neighbours
            sys.path.append(folder)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _FILES[key] = module
    module = _FILES[key]
    found = getattr(module, "EXPERIMENTS", None) or (
        [module.EXPERIMENT] if hasattr(module, "EXPERIMENT") else [])
    if not found:
        raise ValueError(f"experiment file {str(path)!r} defines neither EXPERIMENT nor EXPERIMENTS")
    return [register_experiment(e) for e in found]


def user_files() -> list[str]:
    """The users' experiment files loaded in this process (what worker processes load too)."""
    return list(_FILES)


def _from_file(name: str) -> Experiment:
    path, _, pick = name.partition(".py:")
    path = path + ".py" if pick or not path.endswith(".py") else path
    found = load_experiment_file(path)
    if pick:
        return _USER[resolve_name(pick, {e.name for e in found}, {}, f"experiment in {path}")]
    if len(found) > 1:
        raise ValueError(f"{path} defines several experiments ({', '.join(e.name for e in found)}): "
                         f"pick one as {path}:NAME")
    return found[0]


def list_experiments() -> list[str]:
    """Every experiment name (the ids of ``EXPERIMENTS.md``, plus ``digits``, plus registered ones)."""
    return sorted(_all())


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or the one defined in the Python file ``name`` (``file.py`` or
    ``file.py:NAME``); an unknown name lists the ones that exist."""
    if str(name).endswith(".py") or ".py:" in str(name):
        return _from_file(str(name))
    experiments = _all()
    return experiments[resolve_name(name, experiments, {}, "experiment")]
