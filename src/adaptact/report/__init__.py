"""Reports and pictures from a results folder: tables beside the papers' numbers, and the papers' figures.

>>> from adaptact.report import write_report, write_figures
>>> write_report("results/pau-mnist-fmnist-quick")     # report.md and one CSV per experiment
>>> write_figures("results/pau-mnist-fmnist-quick")    # figures/*.png
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["experiment_runs", "experiment_reports", "write_figures", "write_report"]


def _manifest(out: Path) -> dict:
    path = out / "manifest.json"
    if not path.exists():
        raise ValueError(f"{out} has no manifest.json: run `adaptact reproduce NAME --out {out}` first")
    return json.loads(path.read_text())


def experiment_runs(out: str | os.PathLike):
    """For each experiment reproduced into ``out``: (experiment, its manifest entry, its planned runs with records)."""
    from adaptact.experiments import get_experiment
    from adaptact.experiments.runner import load_records
    from adaptact.report.collect import planned_runs

    out = Path(out)
    manifest = _manifest(out)
    records = {r.key: r for r in load_records(out)}
    result = []
    for name, info in sorted(manifest["experiments"].items()):
        exp = get_experiment(name)
        runs = planned_runs(exp, info["profile"], info.get("seeds"), records, info.get("overrides"))
        result.append((exp, info, runs))
    return result


def experiment_reports(out: str | os.PathLike):
    """One :class:`~adaptact.report.tables.ExperimentReport` per experiment reproduced into ``out``."""
    from adaptact.report.collect import runs_table
    from adaptact.report.tables import AggregateReport, build_report

    reports = {}
    aggregates = []
    for exp, info, runs in experiment_runs(out):
        if exp.custom_report is not None:
            aggregates.append(exp)
            continue
        profile = exp.profiles.get(info["profile"])
        meta = {"name": info["profile"], "seeds": info.get("seeds"), "selection": exp.base.get("selection", "final"),
                "expect": profile.expect if profile else ""}
        records = {(cell.row, cell.column, cell.seed): rec for cell, _, rec in runs if rec is not None}
        reports[exp.name] = build_report(exp, runs_table(exp, runs), meta, info.get("unavailable", {}), records,
                                         profile.checks if profile else ())
    for exp in aggregates:
        text, table = exp.custom_report({name: reports[name] for name in exp.includes if name in reports})
        reports[exp.name] = AggregateReport(exp, text, table)
    return list(reports.values())


def write_report(out: str | os.PathLike) -> list[Path]:
    """Write ``report.md`` (every experiment in ``out``) and ``report-<experiment>.csv``; return the paths."""
    out = Path(out)
    reports = experiment_reports(out)
    machine = _manifest(out).get("machine", {})
    head = ["# Results", "",
            f"Folder `{out}`; machine: {machine.get('platform', '?')}, {machine.get('cpus', '?')} CPUs, "
            f"torch {machine.get('torch', '?')}, adaptact {machine.get('adaptact', '?')}.", ""]
    paths = []
    for rep in reports:
        csv = out / f"report-{rep.experiment.name}.csv"
        csv.write_text(rep.csv())
        paths.append(csv)
    from adaptact.report.claims import paper_claims_markdown

    claims = paper_claims_markdown(reports)
    md = out / "report.md"
    md.write_text("\n".join(head) + (claims + "\n" if claims else "") + "\n".join(r.markdown() for r in reports))
    return [md] + paths


def write_figures(out: str | os.PathLike) -> list[Path]:
    """Draw every figure of every experiment in ``out`` into ``out/figures``; return the paths."""
    from adaptact.report.plots import draw

    out = Path(out)
    paths = []
    for exp, _, runs in experiment_runs(out):
        records = []
        for cell, _, rec in runs:
            if rec is not None:
                rec.spec = {**rec.spec, "tags": {**rec.spec.get("tags", {}), "row": cell.row,
                                                 "column": cell.column, "seed": cell.seed}}
                records.append(rec)
        paths += draw(exp, records, out / "figures")
    return paths
