"""Declarative experiment specs: a paper table as rows x columns of run-spec overrides, with profiles.

An :class:`Experiment` is data: its rows and columns each carry :class:`~adaptact.train.RunSpec`
fields; a :class:`Profile` (``quick`` or ``full``) adds the settings shared by every run and
may pick a subset of rows and columns; the published numbers sit beside it for the report.
:meth:`Experiment.plan` expands a profile into one ``RunSpec`` per (row, column, seed). Rows
whose runs depend on other runs' results (AdAct's "Optimized" network, the ABU paper's
pre-trained weights) give a ``derive`` function that builds their spec from another cell's
record; the runner calls ``plan`` again until nothing new appears. Records are found by
the hash of their spec, so runs shared by two experiments (ABU Table 3 reuses Table 1's)
are run once.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from adaptact.train import RunRecord, RunSpec

__all__ = ["Cell", "Column", "Experiment", "Lookup", "Profile", "Published", "Row", "merge"]


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge RunSpec field dicts left to right; dict-valued fields (``data_options`` ...) merge key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "act_init":
                out[key] = {**out[key], **copy.deepcopy(value)}
            else:
                out[key] = copy.deepcopy(value)
    return out


def _paths(fields: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The paths a layer of RunSpec fields sets: ``(field,)``, or ``(field, key)`` per key of a dict field
    (as :func:`merge` merges them)."""
    paths: list[tuple[str, ...]] = []
    for key, value in fields.items():
        if isinstance(value, dict) and value and key != "act_init":
            paths += [(key, sub) for sub in value]
        else:
            paths.append((key,))
    return paths


@dataclass(frozen=True)
class Cell:
    """One (row, column, seed) of an experiment."""

    row: str
    column: str
    seed: int


#: lookup(row, column, seed) -> the finished record of another cell of the same experiment and profile, or None
Lookup = Callable[[str, str, int], "RunRecord | None"]
#: derive(cell, lookup) -> RunSpec fields for the cell, or None while the runs it needs are missing
Derive = Callable[[Cell, Lookup], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Row:
    """A table row: its label as printed, the RunSpec fields it sets, and its fixed baseline (for the tests).

    ``derive`` marks rows whose fields come from other runs' records (see :class:`Experiment`).
    """

    label: str
    spec: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    derive: Derive | None = None


@dataclass(frozen=True)
class Column:
    """A table column: label, RunSpec fields, and the data set it needs (``unavailable`` explains a gap)."""

    label: str
    spec: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None


@dataclass(frozen=True)
class Profile:
    """Settings for every run of a profile, the rows/columns it runs (``None`` = all), and its seeds.

    ``columns_spec`` adds fields per column (e.g. a smaller subset for FER); ``column_rows`` runs only
    some rows in a column (default: the profile's rows); ``expect`` says in words
    what the profile should show and ``checks`` (:mod:`adaptact.experiments.checks`) test it on
    the results; ``budget`` says how long it takes where it was measured.
    """

    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    rows: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    seeds: int = 1
    columns_spec: dict[str, dict[str, Any]] = field(default_factory=dict)
    column_rows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expect: str = ""
    budget: str = ""
    checks: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Published:
    """A number printed in the paper (accuracy in %), with its spread (``se`` or ``std``) if given."""

    value: float
    spread: float | None = None
    spread_kind: str = "se"


@dataclass
class Experiment:
    """A paper table (or figure) as a grid of runs.

    Attributes:
        name: the id used on the command line (``abu-table1``).
        title, paper, source: what it reproduces and where in the paper.
        rows, columns: the grid; each run's spec is ``base`` <- column <- row <- profile <- profile column.
        base: RunSpec fields shared by every profile.
        profiles: ``quick`` (a 2-core CPU finishes it in about 10 minutes) and ``full`` (the paper's settings).
        published: ``{(row, column): Published}``; missing cells were not printed or were lost.
        published_note: what the paper says when its numbers were lost in the text.
        metric: the record metric reported (``test_accuracy``); statistics: extra columns
            (``std``, ``best``) the paper reports besides mean ± s.e.
        figures: names of the pictures ``adaptact plot`` draws for it.
        includes: other experiments whose runs this one reuses (``pau-table5``).
        unavailable: why the whole experiment cannot run here (private data), or None.
        seed_is_fold: the seeds index cross-validation folds (``data_options["fold"] = seed``), as
            papers that report k-fold averages do.
        custom_report: ``f(reports of the included experiments) -> (markdown, DataFrame)`` for
            aggregate tables (PAU Table 5).
        claims: the paper's comparisons (:class:`~adaptact.experiments.checks.Claim`), decided in the report.
    """

    name: str
    title: str
    paper: str
    source: str
    rows: list[Row]
    columns: list[Column]
    profiles: dict[str, Profile]
    base: dict[str, Any] = field(default_factory=dict)
    published: dict[tuple[str, str], Published] = field(default_factory=dict)
    published_note: str = ""
    metric: str = "test_accuracy"
    statistics: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    unavailable: str | None = None
    seed_is_fold: bool = False
    custom_report: Callable[..., Any] | None = None
    claims: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        labels = [r.label for r in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"{self.name}: duplicate row labels")
        for p in self.profiles.values():
            for r in p.rows or ():
                self.row(r)
            for c in (p.columns or ()) + tuple(p.columns_spec) + tuple(p.column_rows):
                self.column(c)
            for rs in p.column_rows.values():
                for r in rs:
                    self.row(r)
        for r in self.rows:
            if r.baseline is not None:
                self.row(r.baseline)

    # ------------------------------------------------------------------ lookup

    def row(self, label: str) -> Row:
        for r in self.rows:
            if r.label == label:
                return r
        raise ValueError(f"{self.name}: no row {label!r}; rows are {[r.label for r in self.rows]}")

    def column(self, label: str) -> Column:
        for c in self.columns:
            if c.label == label:
                return c
        raise ValueError(f"{self.name}: no column {label!r}; columns are {[c.label for c in self.columns]}")

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ValueError(f"{self.name}: no profile {name!r}; profiles are {sorted(self.profiles)}") from None

    def selected(self, profile: Profile) -> tuple[list[Row], list[Column]]:
        rows = [self.row(r) for r in profile.rows] if profile.rows else list(self.rows)
        cols = [self.column(c) for c in profile.columns] if profile.columns else list(self.columns)
        return rows, cols

    # ------------------------------------------------------------------ expansion

    def cell_spec(self, row: Row, column: Column, profile: Profile, seed: int, fields: dict[str, Any],
                  overrides: Mapping[str, Any] | None = None) -> RunSpec:
        """The RunSpec of one cell: base <- column <- row (or derived fields) <- profile <- profile's column fields
        <- ``overrides`` (dict fields merge key by key, see :func:`merge`)."""
        d = merge(self.base, column.spec, fields, profile.spec, profile.columns_spec.get(column.label, {}),
                  overrides or {})
        d["seed"] = seed
        if self.seed_is_fold:
            d.setdefault("data_options", {})["fold"] = seed
        d["tags"] = {"experiment": self.name, "row": row.label, "column": column.label, "seed": seed,
                     "profile": profile.name}
        return RunSpec.from_dict(d)

    def grid_fields(self, profile_name: str) -> dict[tuple[str, ...], str]:
        """What the grid of a profile sets per cell, as paths (``("act",)``, ``("data_options", "fold")``)
        mapped to who sets them: the seeds, the cells' tags, and every field (or key of a dict field)
        that a selected row, column or profile column sets. An override of one of them would
        change what a row or column means, or merge cells."""
        profile = self.profile(profile_name)
        rows, cols = self.selected(profile)
        owned: dict[tuple[str, ...], str] = {("seed",): "the seeds (use the number of seeds instead)",
                                             ("tags",): "the cells' labels"}
        if self.seed_is_fold:
            owned[("data_options", "fold")] = "the seeds (each seed is a cross-validation fold)"
        sources = [(f"row {r.label!r}", r.spec) for r in rows] + [(f"column {c.label!r}", c.spec) for c in cols]
        sources += [(f"the profile's column {c!r}", spec) for c, spec in profile.columns_spec.items()
                    if c in {col.label for col in cols}]
        for who, fields in sources:
            for path in _paths(fields):
                owned.setdefault(path, who)
        return owned

    def _check_overrides(self, owned: Mapping[tuple[str, ...], str], overrides: Mapping[str, Any]) -> None:
        for path in _paths(overrides):
            for grid_path, who in owned.items():
                if path[: len(grid_path)] == grid_path or grid_path[: len(path)] == path:
                    name = ".".join(grid_path if len(grid_path) > len(path) else path)
                    raise ValueError(f"{self.name}: cannot override {name!r}: the grid sets it per cell "
                                     f"({who}); one value for every cell would change what the table compares")

    def plan(
        self,
        profile_name: str,
        seeds: int | None = None,
        records: Mapping[str, RunRecord] | Sequence[RunRecord] = (),
        **overrides: Any,
    ) -> tuple[list[tuple[Cell, RunSpec]], list[Cell]]:
        """The runs of a profile: ``(cell, spec)`` pairs that can be built now, and the cells still waiting.

        ``records`` (by key, or a list) are the runs done so far; derived rows look up the
        record of another cell through them. ``overrides`` (``data_dir``, ``device``, ...)
        are set on every spec, dict fields key by key; overriding what the grid sets per cell
        (:meth:`grid_fields`, and the fields a derived row derives) raises ``ValueError`` naming
        the field: two cells never become one run. Columns
        marked unavailable are left out (see :meth:`unavailable_columns`).
        """
        if not isinstance(records, Mapping):
            records = {r.key: r for r in records}
        profile = self.profile(profile_name)
        rows, cols = self.selected(profile)
        n = profile.seeds if seeds is None else seeds
        owned = self.grid_fields(profile_name)
        self._check_overrides(owned, overrides)
        planned: dict[Cell, RunSpec] = {}

        def build(row: Row, col: Column, seed: int, fields: dict[str, Any]) -> RunSpec:
            return self.cell_spec(row, col, profile, seed, fields, overrides)

        cells = [(row, col, seed) for col in cols if not col.unavailable
                 for row in rows if row.label in profile.column_rows.get(col.label, [row.label])
                 for seed in range(n)]
        for row, col, seed in cells:
            if row.derive is None:
                planned[Cell(row.label, col.label, seed)] = build(row, col, seed, row.spec)

        def lookup(row: str, column: str, seed: int) -> RunRecord | None:
            spec = planned.get(Cell(row, column, seed))
            if spec is None:
                spec = self.cell_spec(self.row(row), self.column(column), profile, seed, self.row(row).spec, overrides)
            rec = records.get(spec.key())
            return rec if rec is not None and rec.status == "ok" else None

        waiting = []
        for row, col, seed in cells:
            if row.derive is not None:
                cell = Cell(row.label, col.label, seed)
                derived = row.derive(cell, lookup)
                if derived is None:
                    waiting.append(cell)
                else:
                    self._check_overrides({p: f"row {row.label!r}, derived from other runs" for p in _paths(derived)},
                                          overrides)
                    planned[cell] = build(row, col, seed, merge(row.spec, derived))
        order = {c: i for i, c in enumerate(Cell(r.label, c.label, s) for r, c, s in cells)}
        return sorted(planned.items(), key=lambda kv: order[kv[0]]), waiting

    def unavailable_columns(self, profile_name: str) -> dict[str, str]:
        """Columns of the profile that cannot run here, with the reason."""
        _, cols = self.selected(self.profile(profile_name))
        return {c.label: c.unavailable for c in cols if c.unavailable}
