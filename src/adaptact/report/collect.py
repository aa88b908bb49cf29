"""A results folder as a table: one line per planned run of an experiment, with its record's outcome.

Runs are matched to records by the hash of their spec, so a run shared by two experiments
(ABU Table 3 reuses Table 1's) counts in both.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

import pandas as pd

from adaptact.experiments.base import Cell, Experiment
from adaptact.train import RunRecord, RunSpec

__all__ = ["experiment_for", "planned_runs", "runs_table"]

COLUMNS = ["experiment", "row", "column", "seed", "status", "value", "train_loss", "key", "error", "wall_time"]


def experiment_for(out: str | os.PathLike, name: str, info: Mapping[str, Any]) -> Experiment:
    """The experiment a results folder's manifest entry ``info`` names: the one this process knows (built in,
    registered or loaded from a user's file) when it plans the runs the folder stored, else the definition
    stored in ``<out>/experiments/<name>.json`` (:mod:`adaptact.experiments.stored`; no code needed).

    Raises:
        ValueError: neither is there, or the stored file is damaged (named).
    """
    from adaptact.experiments import _all
    from adaptact.experiments.runner import stored_experiment_path
    from adaptact.experiments.stored import experiment_from_dict

    path = stored_experiment_path(out, name)
    live = _all().get(name)
    if not path.exists():
        if live is None:
            raise ValueError(f"unknown experiment {name!r} and no stored definition {path}")
        return live
    try:
        stored = experiment_from_dict(json.loads(path.read_text()))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        if live is not None:
            return live
        raise ValueError(f"{path} is damaged ({type(err).__name__}: {err})") from None
    if live is not None:
        try:
            live_keys = {spec.key() for _, spec, _ in planned_runs(live, info["profile"], info.get("seeds"), {},
                                                                    info.get("overrides"))}
        except ValueError:
            live_keys = None
        stored_keys = {c["key"] for p in stored.stored_plans.values() for c in p["cells"]}
        if live_keys is not None and stored_keys <= live_keys | _derived_keys(live, stored):
            return live
    return stored


def _derived_keys(live: Experiment, stored: Any) -> set[str]:
    """Keys of stored runs of derived rows (the live experiment plans those only once their sources are recorded)."""
    derived = {r.label for r in live.rows if r.derive is not None}
    return {c["key"] for p in stored.stored_plans.values() for c in p["cells"] if c["row"] in derived}


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
