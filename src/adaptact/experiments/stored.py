"""An experiment's definition stored as JSON in its results folder, so ``report`` and ``plot`` need no code.

``<out>/experiments/<name>.json`` is written by :func:`~adaptact.experiments.reproduce` beside the
manifest. It holds what the report reads: title, paper, source, metric, statistics, figures, the
rows (label, fields, baseline) and columns (label, fields, unavailable), ``base``, every profile's
fields, seeds, row/column selection, ``expect`` and ``budget``, the published numbers, and the
**planned runs** of the profile that was run: ``(row, column, seed)`` with the full spec and the
key of its record. Reading it back (:func:`experiment_from_dict`) gives a
:class:`StoredExperiment` whose :meth:`~StoredExperiment.plan` returns exactly those runs, so
its records are found by the stored keys even when a later adaptact would hash the same spec
differently (spec fields this version does not know are dropped from the rebuilt spec; the key stays).

What cannot be stored, because it is code, is lost (and listed under ``"lost"`` in the file):
rows' ``derive`` functions (their runs are kept as planned specs, but new derived runs cannot be
planned from the stored file), profiles' ``checks``, the experiment's ``claims`` and its
``custom_report``. Reports from a stored definition therefore show the tables, statistics and
published numbers, without the checks and claim verdicts. JSON has no tuples: tuple-valued fields
come back as lists, which the report treats alike.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Sequence

from adaptact.experiments.base import Cell, Column, Experiment, Profile, Published, Row
from adaptact.train import RunSpec

__all__ = ["FORMAT", "StoredExperiment", "experiment_from_dict", "experiment_to_dict"]

#: the version of the stored format; a file of another format is refused by name
FORMAT = 1


class StoredExperiment(Experiment):
    """An :class:`Experiment` rebuilt from its stored definition: it plans the stored runs."""

    stored_plans: dict[str, dict[str, Any]]

    def plan(self, profile_name: str, seeds: int | None = None, records: Any = (), **overrides: Any):
        self.profile(profile_name)
        stored = self.stored_plans.get(profile_name)
        if stored is None:
            raise ValueError(f"{self.name}: the stored definition holds the runs of profile(s) "
                             f"{sorted(self.stored_plans)}, not {profile_name!r}; rerun it with its code")
        if seeds not in (None, stored["seeds"]) or json.loads(json.dumps(overrides)) != stored["overrides"]:
            raise ValueError(f"{self.name}: the stored definition planned {stored['seeds']} seeds with overrides "
                             f"{stored['overrides']}, not {seeds} with {dict(overrides)}")
        return [(Cell(c["row"], c["column"], c["seed"]), _spec(c["spec"], c["key"])) for c in stored["cells"]], []


def _spec(fields: Mapping[str, Any], key: str) -> RunSpec:
    """The spec of a stored run, with the stored record key (fields unknown to this version are dropped)."""
    known = {f.name for f in dataclasses.fields(RunSpec)}
    spec = RunSpec.from_dict({k: v for k, v in fields.items() if k in known})
    object.__setattr__(spec, "key", lambda: key)  # the record was written under this key
    return spec


def _profile(p: Profile) -> dict[str, Any]:
    return {"spec": p.spec, "rows": p.rows, "columns": p.columns, "seeds": p.seeds, "columns_spec": p.columns_spec,
            "column_rows": p.column_rows, "expect": p.expect, "budget": p.budget}


def experiment_to_dict(exp: Experiment, profile: str, seeds: int | None, overrides: Mapping[str, Any],
                       planned: Sequence[tuple[Cell, RunSpec]]) -> dict[str, Any]:
    """The JSON-ready definition of ``exp`` with the runs planned for ``profile`` (see the module)."""
    lost = [f"row {r.label!r}: derive function" for r in exp.rows if r.derive is not None]
    lost += [f"profile {p.name!r}: {len(p.checks)} check(s)" for p in exp.profiles.values() if p.checks]
    lost += [f"{len(exp.claims)} claim(s)"] if exp.claims else []
    lost += ["custom_report"] if exp.custom_report is not None else []
    return {
        "format": FORMAT,
        "name": exp.name, "title": exp.title, "paper": exp.paper, "source": exp.source,
        "metric": exp.metric, "statistics": list(exp.statistics), "figures": list(exp.figures),
        "includes": list(exp.includes), "unavailable": exp.unavailable, "seed_is_fold": exp.seed_is_fold,
        "published_note": exp.published_note, "base": exp.base,
        "rows": [{"label": r.label, "spec": r.spec, "baseline": r.baseline, "derived": r.derive is not None}
                 for r in exp.rows],
        "columns": [{"label": c.label, "spec": c.spec, "unavailable": c.unavailable} for c in exp.columns],
        "profiles": {name: _profile(p) for name, p in exp.profiles.items()},
        "published": [{"row": r, "column": c, "value": p.value, "spread": p.spread, "spread_kind": p.spread_kind}
                      for (r, c), p in exp.published.items()],
        "planned": {profile: {"seeds": seeds, "overrides": dict(overrides),
                              "cells": [{"row": cell.row, "column": cell.column, "seed": cell.seed,
                                         "key": spec.key(), "spec": spec.to_dict()} for cell, spec in planned]}},
        "lost": lost,
    }


def _tuple(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


def experiment_from_dict(d: Mapping[str, Any]) -> StoredExperiment:
    """The :class:`StoredExperiment` of a stored definition.

    Raises:
        ValueError: not a stored definition, or one of another format (named).
    """
    if not isinstance(d, Mapping) or d.get("format") != FORMAT or "name" not in d:
        got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
        raise ValueError(f"not a stored experiment definition of format {FORMAT} (format {got!r})")
    profiles = {
        name: Profile(name, p["spec"], _tuple(p["rows"]), _tuple(p["columns"]), p["seeds"], p["columns_spec"],
                      {c: tuple(rs) for c, rs in p["column_rows"].items()}, p["expect"], p["budget"])
        for name, p in d["profiles"].items()
    }
    exp = StoredExperiment(
        name=d["name"], title=d["title"], paper=d["paper"], source=d["source"],
        rows=[Row(r["label"], r["spec"], r["baseline"]) for r in d["rows"]],
        columns=[Column(c["label"], c["spec"], c["unavailable"]) for c in d["columns"]],
        profiles=profiles, base=d["base"],
        published={(p["row"], p["column"]): Published(p["value"], p["spread"], p["spread_kind"])
                   for p in d["published"]},
        published_note=d["published_note"], metric=d["metric"], statistics=tuple(d["statistics"]),
        figures=tuple(d["figures"]), includes=tuple(d["includes"]), unavailable=d["unavailable"],
        seed_is_fold=d["seed_is_fold"],
    )
    exp.stored_plans = dict(d["planned"])
    return exp
