"""Reports and pictures from a results folder: tables beside the papers' numbers, and the papers' figures.

>>> from adaptact.report import write_report, write_figures
>>> write_report("results/pau-mnist-fmnist-quick")     # report.md and one CSV per experiment
>>> write_figures("results/pau-mnist-fmnist-quick")    # figures/*.png

Results are never destroyed: both refuse with :class:`~adaptact.train.ResultsError` (one line
naming the folder or file) when the folder holds no record of any run its manifest plans (a
copy of a report folder without its ``records/``), and :func:`write_report` refuses to replace
a report by one with fewer finished runs unless ``force``. Damaged record files are skipped
with a warning naming them (``adaptact reproduce`` moves them to ``quarantine/`` and redoes
their runs). Every file is written atomically.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from adaptact.train.record import ResultsError, write_text_atomic

__all__ = ["ResultsError", "experiment_runs", "experiment_reports", "write_figures", "write_report"]


def experiment_runs(out: str | os.PathLike):
    """For each experiment reproduced into ``out``: (experiment, its manifest entry, its planned runs with records)."""
    from adaptact.experiments.runner import load_records, read_manifest
    from adaptact.report.collect import experiment_for, planned_runs

    out = Path(out)
    manifest = read_manifest(out)
    records = {r.key: r for r in load_records(out)}
    result = []
    for name, info in sorted(manifest["experiments"].items()):
        try:
            exp = experiment_for(out, name, info)
            runs = planned_runs(exp, info["profile"], info.get("seeds"), records, info.get("overrides"))
        except ValueError as err:
            raise ResultsError(f"{out / 'manifest.json'}: {name}: {err}") from None
        result.append((exp, info, runs))
    return result


def _require_records(out: Path, runs) -> None:
    """Refuse a folder in which no planned run of any experiment has a record: there is nothing to report."""
    planned = sum(len(r) for _, _, r in runs)
    found = sum(rec is not None for _, _, r in runs for _, _, rec in r)
    if planned and not found:
        names = ", ".join(exp.name for exp, _, _ in runs)
        raise ResultsError(f"{out / 'records'} holds no record of the {planned} planned runs of {names}: "
                           "nothing to report (copy the records too, or run `adaptact reproduce` into this folder)")


def experiment_reports(out: str | os.PathLike, runs=None):
    """One :class:`~adaptact.report.tables.ExperimentReport` per experiment reproduced into ``out``
    (``runs``: :func:`experiment_runs` of ``out``, if already read)."""
    from adaptact.report.collect import runs_table
    from adaptact.report.tables import AggregateReport, build_report

    reports = {}
    aggregates = []
    for exp, info, exp_runs in experiment_runs(out) if runs is None else runs:
        if exp.custom_report is not None:
            aggregates.append(exp)
            continue
        profile = exp.profiles.get(info["profile"])
        meta = {"name": info["profile"], "seeds": info.get("seeds"), "selection": exp.base.get("selection", "final"),
                "expect": profile.expect if profile else ""}
        records = {(cell.row, cell.column, cell.seed): rec for cell, _, rec in exp_runs if rec is not None}
        reports[exp.name] = build_report(exp, runs_table(exp, exp_runs), meta, info.get("unavailable", {}), records,
                                         profile.checks if profile else ())
    for exp in aggregates:
        text, table = exp.custom_report({name: reports[name] for name in exp.includes if name in reports})
        reports[exp.name] = AggregateReport(exp, text, table)
    return list(reports.values())


def _finished_runs(csv_text: str) -> int | None:
    """The number of finished runs a report CSV counts (its ``n`` column), or ``None`` if it has none."""
    import pandas as pd

    try:
        table = pd.read_csv(io.StringIO(csv_text))
    except (ValueError, pd.errors.ParserError):
        return None
    if "n" not in table.columns:
        return None
    return int(pd.to_numeric(table["n"], errors="coerce").fillna(0).sum())


def write_report(out: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Write ``report.md`` (every experiment in ``out``) and ``report-<experiment>.csv``; return the paths.

    Raises :class:`ResultsError`, before writing anything, when ``out`` holds no record of its planned
    runs, or when a new CSV would count fewer finished runs than the one it replaces (records missing
    or set aside); ``force`` writes it anyway.
    """
    from adaptact.experiments.runner import read_manifest

    out = Path(out)
    runs = experiment_runs(out)
    _require_records(out, runs)
    reports = experiment_reports(out, runs)
    machine = read_manifest(out).get("machine", {})
    head = ["# Results", "",
            f"Folder `{out}`; machine: {machine.get('platform', '?')}, {machine.get('cpus', '?')} CPUs, "
            f"torch {machine.get('torch', '?')}, adaptact {machine.get('adaptact', '?')}.", ""]
    tables = {out / f"report-{rep.experiment.name}.csv": rep.csv() for rep in reports}
    for csv, text in tables.items():
        before = _finished_runs(csv.read_text(errors="replace")) if csv.exists() else None
        now = _finished_runs(text)
        if not force and before is not None and now is not None and now < before:
            raise ResultsError(f"refusing to replace {csv} ({before} finished runs) with a report of {now}: "
                               f"records under {out / 'records'} are missing or were set aside; "
                               "write it anyway with force=True (--force)")
    for csv, text in tables.items():
        write_text_atomic(csv, text)
    from adaptact.report.claims import paper_claims_markdown

    claims = paper_claims_markdown(reports)
    md = out / "report.md"
    body = "\n".join(head) + (claims + "\n" if claims else "") + "\n".join(r.markdown() for r in reports)
    write_text_atomic(md, body)
    return [md] + list(tables)


def write_figures(out: str | os.PathLike) -> list[Path]:
    """Draw every figure of every experiment in ``out`` into ``out/figures``; return the paths.

    Raises :class:`ResultsError` when ``out`` holds no record of its planned runs, or when no figure
    could be drawn (no experiment defines one, or no run finished)."""
    from adaptact.report.plots import draw

    out = Path(out)
    runs = experiment_runs(out)
    _require_records(out, runs)
    paths, finished = [], 0
    for exp, _, exp_runs in runs:
        records = []
        for cell, _, rec in exp_runs:
            if rec is not None:
                rec.spec = {**rec.spec, "tags": {**rec.spec.get("tags", {}), "row": cell.row,
                                                 "column": cell.column, "seed": cell.seed}}
                records.append(rec)
        finished += sum(r.status == "ok" for r in records)
        paths += draw(exp, records, out / "figures")
    if not paths:
        figures = sorted({f for exp, _, _ in runs for f in exp.figures})
        raise ResultsError(f"{out}: no figure drawn: " + (
            f"the experiments define figures {figures}, but none could be drawn from their {finished} finished run(s)"
            if figures else f"{', '.join(exp.name for exp, _, _ in runs)} define no figures"))
    return paths
