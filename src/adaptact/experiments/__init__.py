"""The papers' tables as declarative experiment specs, and the runner that reproduces them.

>>> from adaptact.experiments import list_experiments, reproduce
>>> reproduce("pau-mnist-fmnist", "quick", overrides={"data_dir": "../shared/data"})
"""
from __future__ import annotations

import importlib

from adaptact.experiments.base import Cell, Column, Experiment, Profile, Published, Row
from adaptact.experiments.runner import load_records, reproduce, run_specs
from adaptact.naming import resolve_name

__all__ = [
    "Cell", "Column", "Experiment", "Profile", "Published", "Row",
    "get_experiment", "list_experiments", "load_records", "reproduce", "run_specs",
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


def _all() -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for module in _MODULES:
        m = importlib.import_module(f"adaptact.experiments.{module}")
        for exp in getattr(m, "EXPERIMENTS", None) or [m.EXPERIMENT]:
            out[exp.name] = exp
    return out


def list_experiments() -> list[str]:
    """Every experiment name (the ids of ``EXPERIMENTS.md``, plus ``digits``)."""
    return sorted(_all())


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name lists the ones that exist."""
    experiments = _all()
    return experiments[resolve_name(name, experiments, {}, "experiment")]
