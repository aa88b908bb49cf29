"""Davis, "generalized trainable meta-neurons" (Figs. 4-9): six MNIST comparisons of meta-neuron networks.

One file for the paper's six figures: they share one set-up (an MLP 784 -> hidden -> 10 on MNIST
whose hidden neurons are meta-neurons: a residual 1 -> h -> ... -> 1 subnetwork each) and differ
only in the grid. The paper gives curves, no numbers: the reports show ours alone, at the last
epoch and averaged over the epochs ("accuracy over time").
"""
from __future__ import annotations

import dataclasses
from typing import Any

from adaptact.experiments import checks as C
from adaptact.experiments.base import Cell, Column, Experiment, Lookup, Profile, Row

PAPER = "Davis: Generalized trainable meta-neurons"
BASE = dict(model="mlp", data="mnist", optimizer="adam", lr=1e-3, batch_size=128, selection="final",
            eval_train=True, record_every=0,
            data_options={"normalization": "mean-std", "mean": [0.1307], "std": [0.3081]})
QUICK = Profile("quick", {"epochs": 5, "data_options": {"train_subset": 10_000}}, seeds=1,
                budget="under half a minute on 2 CPU cores")
FULL = Profile("full", {"epochs": 100}, seeds=3, budget="about 2-6 CPU-hours per seed")
#: medium: the full profile's settings (the paper's 100 epochs on the full training set, 3 seeds) with
#: every row: meta-neurons with both initialisations and VAF; the differences the paper shows are
#: several pp, which 3 seeds resolve
MEDIUM = Profile("medium", {"epochs": 100}, seeds=3)
NO_NUMBERS = "the paper shows curves only (Figs. 4-9); it prints no accuracies"


def meta(inner: str = "sigmoid", width: int = 5, depth: int = 1, init: str = "pytorch") -> dict[str, Any]:
    """A meta-neuron row's fields; ``init="fixed"`` starts each meta-neuron as (a fit of) ``inner`` itself."""
    options: dict[str, Any] = {"inner": inner, "width": width, "depth": depth}
    if init != "pytorch":
        options["init"] = init
    return {"act": "metaneuron", "act_options": options}


def vaf(inner: str = "sigmoid", width: int = 5) -> dict[str, Any]:
    """A VAF row's fields (Apicella et al.: one hidden layer, linear input and output neurons)."""
    return {"act": "vaf", "act_options": {"inner": inner, "width": width}}


#: what the medium profile adds beside the paper's meta-neurons (PyTorch init): the same with the
#: near-fixed start, and VAF (which the paper says performs like its meta-neurons)
NEAR_FIXED, VAF = " (near-fixed init)", " VAF"


def _experiment(name: str, title: str, source: str, rows: list[Row], columns: list[Column], expect: str,
                extra_base: dict[str, Any] | None = None, checks: tuple = (), claims: tuple = (),
                medium_rows: list[Row] = (), medium_budget: str = "") -> Experiment:
    papers_rows = tuple(r.label for r in rows) if medium_rows else None
    profiles = {"quick": dataclasses.replace(QUICK, expect=expect, checks=checks, rows=papers_rows),
                "full": dataclasses.replace(FULL, rows=papers_rows)}
    if medium_rows:
        profiles["medium"] = dataclasses.replace(MEDIUM, expect=expect, checks=checks, budget=medium_budget)
        rows = list(rows) + list(medium_rows)
    return Experiment(name=name, title=title, paper=PAPER, source=source, rows=rows, columns=columns,
                      base={**BASE, **(extra_base or {})}, profiles=profiles, published_note=NO_NUMBERS,
                      figures=("curves", "davis-fig10"), claims=claims)


# --- Fig. 4: meta-neurons against the same network with the fixed activation

GRID = [(a, n, layers) for a in ("sigmoid", "tanh", "relu") for n in (3, 10) for layers in (1, 2)]


def _column_label(a: str, n: int, layers: int) -> str:
    return f"{a}, {n} neurons x {layers} layer{'s' if layers > 1 else ''}"


_SETTINGS = {_column_label(*g): g for g in GRID}


def _meta_for_column(cell: Cell, lookup: Lookup) -> dict[str, Any]:
    return meta(inner=_SETTINGS[cell.column][0])


def _near_fixed_meta_for_column(cell: Cell, lookup: Lookup) -> dict[str, Any]:
    return meta(inner=_SETTINGS[cell.column][0], init="fixed")


def _vaf_for_column(cell: Cell, lookup: Lookup) -> dict[str, Any]:
    return vaf(inner=_SETTINGS[cell.column][0])


def _fixed_for_column(cell: Cell, lookup: Lookup) -> dict[str, Any]:
    return {"act": _SETTINGS[cell.column][0]}


FIXED_VS_TRAINABLE = _experiment(
    "davis-mnist-fixed-vs-trainable", "Meta-neuron networks against fixed-activation networks", "Fig. 4",
    rows=[Row("meta-neurons", derive=_meta_for_column, baseline="fixed"),
          Row("fixed", derive=_fixed_for_column)],
    columns=[Column(label, {"model_options": {"hidden": [n] * layers}}) for label, (a, n, layers) in _SETTINGS.items()],
    expect="at 3 neurons per layer the meta-neuron net beats the fixed net at the last epoch (paper: always, and "
           "faster)",
    checks=tuple(C.no_worse_than("meta-neurons", "fixed", label) for label, (a, n, _) in _SETTINGS.items() if n == 3),
    medium_rows=[Row("meta-neurons" + NEAR_FIXED, derive=_near_fixed_meta_for_column, baseline="fixed"),
                 Row("VAF", derive=_vaf_for_column, baseline="fixed")],
    medium_budget="144 runs of 100 MNIST epochs: 3.94 CPU-hours (measured on 2 shared cores, 2026-12-01)",
    # "the trainable activations actually help increase speed of convergence and model accuracy" (Fig. 4)
    claims=C.claims_per_column("meta-neuron net above the fixed net ({column})", "meta-neurons", "fixed", _SETTINGS)
    + C.claims_per_column("near-fixed meta-neuron net above the fixed net ({column})", "meta-neurons" + NEAR_FIXED,
                          "fixed", _SETTINGS)
    + C.claims_per_column("VAF net above the fixed net ({column})", "VAF", "fixed", _SETTINGS),
)

ONE_LAYER = [Column("1 layer, sigmoid")]
WIDTHS = (1, 2, 3, 5, 7, 10)
LAYERS = (1, 2, 3, 4)


def _layers(k: int) -> str:
    return f"{k} meta-neuron layer{'s' if k > 1 else ''}"


WIDTH = _experiment(
    "davis-mnist-width", "Number of meta-neurons per layer", "Fig. 5",
    rows=[Row(f"{n} meta-neurons", {**meta(), "model_options": {"hidden": [n]}}) for n in WIDTHS],
    columns=ONE_LAYER, expect="width 7 >= width 1 (paper: more width is better, little gain beyond about 7)",
    checks=(C.no_worse_than("7 meta-neurons", "1 meta-neurons", "1 layer, sigmoid"),),
    medium_rows=[Row(f"{n} meta-neurons{NEAR_FIXED}", {**meta(init="fixed"), "model_options": {"hidden": [n]}})
                 for n in WIDTHS] + [Row(f"{n}{VAF}", {**vaf(), "model_options": {"hidden": [n]}}) for n in WIDTHS],
    medium_budget="54 runs of 100 MNIST epochs: 1.77 CPU-hours (measured on 2 shared cores, 2026-12-01)",
    # more meta-neurons per layer: higher accuracy, with little gain beyond about 7
    # (medium: the same claims for the near-fixed meta-neurons and the VAF units)
    claims=tuple(C.Claim(f"{more} {kind}above {fewer}", f"{more}{suffix}", "1 layer, sigmoid",
                         f"{fewer}{suffix}")
                 for kind, suffix in (("meta-neurons ", " meta-neurons"), ("near-fixed meta-neurons ",
                                                                           f" meta-neurons{NEAR_FIXED}"),
                                      ("VAF units ", VAF))
                 for more, fewer in ((3, 1), (7, 3))),
)

SUBDEPTH = _experiment(
    "davis-mnist-subdepth", "Hidden layers inside each meta-neuron's subnetwork", "Fig. 6",
    rows=[Row(f"subnet depth {d}", meta(depth=d)) for d in (1, 2, 3, 4)],
    columns=ONE_LAYER, extra_base={"model_options": {"hidden": [5]}},
    expect="no gain from deeper subnetworks (paper: none or negative, supporting VAF's single layer)",
)

SUBWIDTH = _experiment(
    "davis-mnist-subwidth", "Neurons per hidden layer of each meta-neuron's subnetwork", "Fig. 7",
    rows=[Row(f"subnet width {w}", meta(width=w)) for w in (2, 5, 10, 20)],
    columns=ONE_LAYER, extra_base={"model_options": {"hidden": [5]}},
    expect="inconclusive in the paper",
)

DEPTH = _experiment(
    "davis-mnist-depth", "Number of meta-neuron layers in the network", "Fig. 8",
    rows=[Row(_layers(k), {**meta(), "model_options": {"hidden": [5] * k}}) for k in LAYERS],
    columns=[Column("5 meta-neurons per layer, sigmoid")],
    expect="4 meta-neuron layers <= 1 layer (paper: more layers learn slower and worse)",
    checks=(C.no_worse_than("1 meta-neuron layer", "4 meta-neuron layers", "5 meta-neurons per layer, sigmoid"),),
    medium_rows=[Row(_layers(k) + NEAR_FIXED, {**meta(init="fixed"), "model_options": {"hidden": [5] * k}})
                 for k in LAYERS] + [Row(f"{k} VAF layer{'s' if k > 1 else ''}",
                                         {**vaf(), "model_options": {"hidden": [5] * k}}) for k in LAYERS],
    medium_budget="36 runs of 100 MNIST epochs: 1.41 CPU-hours (measured on 2 shared cores, 2026-12-01)",
    # more meta-neuron layers learn slower and reach a lower accuracy
    # (medium: the same claims for the near-fixed meta-neurons and the VAF layers)
    claims=tuple(C.Claim(f"1 {kind} above {k}", one, "5 meta-neurons per layer, sigmoid", many)
                 for k in (2, 4)
                 for kind, one, many in (
                     ("meta-neuron layer", _layers(1), _layers(k)),
                     ("near-fixed meta-neuron layer", _layers(1) + NEAR_FIXED, _layers(k) + NEAR_FIXED),
                     ("VAF layer", "1 VAF layer", f"{k} VAF layers"))),
)

SUBACT = _experiment(
    "davis-mnist-subact", "The fixed activation inside the meta-neurons", "Fig. 9",
    rows=[Row(f"inner {a}", meta(inner=a)) for a in ("relu", "sigmoid", "tanh", "elu", "lrelu")],
    columns=[Column("1 layer x 5 meta-neurons")], extra_base={"model_options": {"hidden": [5]}},
    expect="ReLU inside converges more slowly than the others (paper)",
)

EXPERIMENTS = [FIXED_VS_TRAINABLE, WIDTH, SUBDEPTH, SUBWIDTH, DEPTH, SUBACT]
