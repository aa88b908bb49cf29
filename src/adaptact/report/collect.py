"""A results folder as a table: one line per planned run of an experiment, with its record's outcome.

Runs are matched to records by the hash of their spec, so a run shared by two experiments
(ABU Table 3 reuses Table 1's) counts in both.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

from adaptact.experiments.base import Cell, Experiment
from adaptact.train import RunRecord, RunSpec

__all__ = ["planned_runs", "runs_table"]

COLUMNS = ["experiment", "row", "column", "seed", "status", "value", "train_loss", "key", "error", "wall_time"]


def planned_runs(exp: Experiment, profile: str, seeds: int | None, records: Mapping[str, RunRecord],
                 overrides: Mapping[str, Any] | None = None) -> list[tuple[Cell, RunSpec, RunRecord | None]]:
    """Every run of the experiment's profile that can be planned, with its record (``None``: not run yet)."""
    planned, _ = exp.plan(profile, seeds, records, **dict(overrides or {}))
    return [(cell, spec, records.get(spec.key())) for cell, spec in planned]


def runs_table(exp: Experiment, runs: Sequence[tuple[Cell, RunSpec, RunRecord | None]]) -> pd.DataFrame:
    """One line per run: row, column, seed, status (``missing`` when not run), the metric in %, train loss.

    A record that says ``ok`` without a finite value of the experiment's metric counts as ``damaged``
    (not finished), never as a blank in a finished cell."""
    lines = []
    for cell, spec, rec in runs:
        status = rec.status if rec is not None else "missing"
        error = rec.error if rec is not None else None
        value = rec.metrics.get(exp.metric) if status == "ok" else None
        if status == "ok" and (isinstance(value, bool) or not isinstance(value, (int, float))
                               or not math.isfinite(value)):
            status, error, value = "damaged", f"status 'ok' without a finite {exp.metric} (got {value!r})", None
        lines.append({
            "experiment": exp.name, "row": cell.row, "column": cell.column, "seed": cell.seed, "status": status,
            "value": None if value is None else 100.0 * value,
            "train_loss": rec.metrics.get("train_loss") if status == "ok" else None,
            "key": spec.key(), "error": error,
            "wall_time": rec.wall_time if rec is not None else None,
        })
    return pd.DataFrame(lines, columns=COLUMNS)
