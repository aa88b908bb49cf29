"""Farhadi, Nia & Lodi, Table 1 (§4.1): networks fitted to data simulated by teacher networks."""
from __future__ import annotations

from adaptact.experiments import checks as C
from adaptact.experiments.base import Column, Experiment, Profile, Published, Row

TEACHERS = [("1 layer, Sig teacher", 1, "sigmoid"), ("1 layer, ReLU teacher", 1, "relu"),
            ("8 layers, Sig teacher", 8, "sigmoid"), ("8 layers, ReLU teacher", 8, "relu")]
FITTED = [("fitted Sig", "sigmoid"), ("fitted AGumb", "agumbel"), ("fitted ReLU", "relu"), ("fitted AReLU", "arelu")]

#: §4.1: "overall, adaptive Gumbel outperforms sigmoid. Adaptive ReLU competes closely with ReLU in shallow
#: networks, and slightly outperforms ReLU in deeper networks"
CLAIMS = tuple(C.Claim(f"{t}: fitted AGumb above fitted Sig", t, "fitted AGumb", t, than_column="fitted Sig")
               for t, _, _ in TEACHERS) + tuple(
    C.Claim(f"{t}: fitted AReLU above fitted ReLU", t, "fitted AReLU", t, than_column="fitted ReLU")
    for t, depth, _ in TEACHERS if depth == 8)

_TABLE = {
    "1 layer, Sig teacher": (95.8, 97.5, 97.8, 97.7),
    "1 layer, ReLU teacher": (96.1, 97.4, 98.2, 98.0),
    "8 layers, Sig teacher": (83.7, 83.8, 81.8, 81.9),
    "8 layers, ReLU teacher": (57.3, 88.2, 89.3, 89.9),
}

EXPERIMENT = Experiment(
    name="farhadi-sim",
    title="Adaptive Gumbel and adaptive ReLU fitted to teacher-network data",
    paper="Farhadi, Nia & Lodi: Activation Adaptation in Neural Networks (ICPRAM 2020)",
    source="Table 1, §4.1",
    rows=[Row(label, {"data_options": {"hidden_layers": depth, "activation": act},
                      "model_options": {"hidden": [10] * depth}}) for label, depth, act in TEACHERS],
    columns=[Column(label, {"act": act}) for label, act in FITTED],
    # fitted net as deep and wide as its teacher; LeCun init; one logit with binary cross-entropy plus
    # L1 = L2 = 0.001 on weights and biases (not on alpha); plain SGD, rate 0.01, batch 20; 5-fold CV
    base=dict(model="mlp", data="teacher", loss="bce", optimizer="sgd", lr=0.01, momentum=0.0, batch_size=20,
              l1=1e-3, l2=1e-3, eval_batch_size=10_000, selection="final", record_every=0,
              model_options={"init": "lecun"},
              data_options={"features": 10, "samples": 100_000, "folds": 5, "teacher_seed": 0, "label": "median"}),
    profiles={
        "quick": Profile("quick", {"epochs": 30, "data_options": {"samples": 10_000}}, seeds=1,
                         expect="1-layer cells >= 90%; 8-layer ReLU teacher: fitted Sig clearly below fitted "
                                "ReLU/AReLU (paper 57.3 vs 89.3/89.9); AGumb >= Sig - 1 pp in every row",
                         budget="about 3-5 minutes on 2 CPU cores",
                         checks=(C.at_least(("1 layer, Sig teacher", "1 layer, ReLU teacher"), 90.0),
                                 C.cell_gap(("8 layers, ReLU teacher", "fitted ReLU"),
                                            ("8 layers, ReLU teacher", "fitted Sig"), 5.0,
                                            "8-layer ReLU teacher: fitted ReLU at least 5 pp above fitted Sig"),
                                 C.cell_gap(("8 layers, ReLU teacher", "fitted AReLU"),
                                            ("8 layers, ReLU teacher", "fitted Sig"), 5.0,
                                            "8-layer ReLU teacher: fitted AReLU at least 5 pp above fitted Sig"),
                                 *(C.cell_gap((t, "fitted AGumb"), (t, "fitted Sig"), -1.0) for t, _, _ in TEACHERS))),
        # medium: 200 of the paper's 2,000 epochs on a 20k-sample teacher set, 3 folds. The labels are the
        # teacher's output split at its median (data_options label="median"): the paper's sign rule gives
        # 8-layer teachers whose labels are >= 99.9 % one class, which cannot give its table
        "medium": Profile("medium", {"epochs": 200, "data_options": {"samples": 20_000}}, seeds=3,
                          expect="fitted AGumb against fitted Sig and fitted AReLU against fitted ReLU per teacher, "
                                 "on median-split teacher labels (the labels question: see the published note)",
                          budget="48 runs of 200 epochs on 16k samples: 2.18 CPU-hours (measured, 2026-12-03)",
                          checks=(C.at_least(("1 layer, Sig teacher", "1 layer, ReLU teacher"), 90.0),
                                  C.finite_everywhere())),
        "full": Profile("full", {"epochs": 2000}, seeds=5, budget="about 90-180 CPU-hours (16 cells x 5 folds)"),
    },
    published={(row, col): Published(v) for row, vals in _TABLE.items() for (col, _), v in zip(FITTED, vals)},
    published_note=("accuracy (%) averaged over 5-fold CV, 'maximum standard error 0.22'. The generator's details are "
                    "partly unstated (input law, 0.5 as variance, the output rule): see EXPERIMENTS.md. Labelling by "
                    "the sign of the output unit gives 8-layer teachers whose labels are almost all one class "
                    "(>= 99.9% for sigmoid teachers, measured over 6 teacher seeds), which cannot give the paper's "
                    "83.7 / 57.3; we label by the median of the output unit (balanced classes), under which chance "
                    "is 50% and a fitted network that fails stays near it, as the paper's 57.3 suggests"),
    seed_is_fold=True,
    figures=("alpha-hist", "farhadi-fig3-4"),
    claims=CLAIMS,
)
