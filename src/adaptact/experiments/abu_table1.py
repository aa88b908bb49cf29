"""ABU paper, Table 1 (§3.2): fixed activations, their adaptively scaled versions, and ABU, on six SMCN settings."""
from __future__ import annotations

from adaptact.experiments.abu_common import BASE, COLUMNS, FULL_BUDGET, MEDIUM, MEDIUM_COLUMNS, QUICK, QUICK_BUDGET
from adaptact.experiments import checks as C
from adaptact.experiments.base import Experiment, Profile, Published, Row

ROWS = [
    Row("I", {"act": "identity"}),
    Row("αI", {"act": "scaled_identity"}, baseline="I"),
    Row("tanh", {"act": "tanh"}),
    Row("αtanh", {"act": "scaled_tanh"}, baseline="tanh"),
    Row("ReLU", {"act": "relu"}),
    Row("αReLU", {"act": "scaled_relu"}, baseline="ReLU"),
    Row("ELU", {"act": "elu"}),
    Row("αELU", {"act": "scaled_elu"}, baseline="ELU"),
    Row("SELU", {"act": "selu"}),
    Row("αSELU", {"act": "scaled_selu"}, baseline="SELU"),
    Row("Swish", {"act": "swish_beta"}),  # beta trainable "in all cases"
    Row("αSwish", {"act": "scaled_swish_beta"}, baseline="Swish"),
    Row("ABU", {"act": "abu"}, baseline="ReLU"),
]

_COLS = [c.label for c in COLUMNS]
DEFAULT = "SMCN Adam C10"
#: §3.2: "ABUs outperformed all other activation functions in four out of six setups (including Momentum)"
ABU_BEST = ("SMCN Adam C10", "SMCN_S Adam C10", "SMCN Momentum C10", "SMCN Adam C100")
CLAIMS = (
    C.claims_per_column("ABU above every other activation ({column})", "ABU",
                        tuple(r.label for r in ROWS if r.label != "ABU"), ABU_BEST)
    # §3.2: "adding adaptive scaling yielded improved performance for all activation functions" (on average over
    # the six setups); here per setup, in the two that the medium profile runs. The paper's own table has it in
    # 11 of these 12 (not ReLU on SMCN: 79.23 against 79.42): the reports flag that one
    + tuple(C.Claim(f"adaptive scaling improves {f} ({col})", f"α{f}", col, f)
            for col in (DEFAULT, "SMCN_S Adam C10") for f in ("I", "tanh", "ReLU", "ELU", "SELU", "Swish"))
)
_TABLE = {  # mean ± s.e. over 30 runs, in the order of _COLS
    "I": [(75.51, .11), (73.19, .37), (38.87, .08), (71.72, .09), (77.34, .06), (44.11, .09)],
    "αI": [(76.52, .08), (77.34, .18), (39.48, .06), (71.34, .10), (76.32, .06), (45.58, .09)],
    "tanh": [(75.44, .06), (58.55, 4.47), (67.19, .11), (75.10, .07), (78.76, .05), (41.02, .13)],
    "αtanh": [(79.07, .07), (73.40, 3.87), (68.82, .10), (75.32, .10), (79.14, .05), (46.85, .08)],
    "ReLU": [(79.42, .17), (81.07, .15), (72.79, .16), (81.17, .06), (81.63, .07), (43.66, .10)],
    "αReLU": [(79.23, .15), (82.97, .12), (73.89, .10), (81.12, .11), (81.85, .07), (46.22, .11)],
    "ELU": [(81.78, .06), (83.41, .08), (73.33, .13), (80.87, .06), (82.16, .06), (48.59, .11)],
    "αELU": [(82.60, .06), (84.94, .06), (75.03, .13), (80.89, .06), (82.06, .04), (51.03, .10)],
    "SELU": [(81.75, .07), (83.29, .07), (71.72, .14), (79.36, .05), (82.48, .05), (48.25, .08)],
    "αSELU": [(82.81, .06), (85.04, .04), (73.79, .15), (79.57, .07), (81.99, .05), (51.08, .08)],
    "Swish": [(82.07, .08), (83.73, .07), (74.33, .16), (81.77, .04), (82.02, .06), (49.14, .12)],
    "αSwish": [(82.27, .06), (84.56, .05), (75.67, .09), (81.61, .05), (82.35, .05), (50.19, .08)],
    "ABU": [(83.12, .06), (84.70, .06), (76.19, .11), (80.63, .09), (83.12, .06), (52.13, .08)],
}

EXPERIMENT = Experiment(
    name="abu-table1",
    title="Adaptive scaling and Adaptive Blending Units on SMCN (CIFAR-10/100)",
    paper="Sütfeld, Brieger, Finger, Füllhase & Pipa: Adaptive Blending Units",
    source="Table 1, §3.2",
    rows=ROWS,
    columns=COLUMNS,
    base=BASE,
    profiles={
        "quick": Profile(
            "quick", QUICK, rows=("I", "ReLU", "αReLU", "ELU", "αELU", "Swish", "ABU"),
            columns=("SMCN Adam C10", "SMCN_S Adam C10"), seeds=1,
            column_rows={"SMCN_S Adam C10": ("I", "ReLU")},
            expect="on SMCN_S, I at least 5 pp below ReLU (paper: 33.9 pp); ABU at least the best fixed "
                   "activation - 1 pp on SMCN Adam C10; the mean alpha of αReLU and αELU below 1 at the end",
            budget=QUICK_BUDGET,
            checks=(C.lower_by("I", "ReLU", "SMCN_S Adam C10", 5.0),
                    C.close_to_best("ABU", ("I", "ReLU", "ELU", "Swish"), "SMCN Adam C10", 1.0),
                    C.alpha_below(("αReLU", "αELU"), "SMCN Adam C10"))),
        "medium": Profile(
            "medium", MEDIUM, columns=("SMCN Adam C10", "SMCN_S Adam C10"), seeds=3, columns_spec=MEDIUM_COLUMNS,
            expect="with every row of both columns at 6,000 steps (SMCN at half width, SMCN_S at a quarter): ReLU "
                   "above the identity on SMCN (the paper: by 3.9 pp) and far above it on SMCN_S (33.9 pp), the "
                   "paper's ordering of the fixed functions, and each alpha-unit and ABU against its baseline",
            budget="39 runs of 6,000 steps of half-width SMCN and 39 of quarter-width SMCN_S: about 20-25 CPU-hours "
                   "(SMCN/2 probes of 2026-12-04: 0.23 s a step with the C dropout, 0.45 h a run; SMCN_S/4 about "
                   "0.15 h a run)",
            checks=(C.lower_by("I", "ReLU", "SMCN Adam C10", 2.0), C.lower_by("I", "ReLU", "SMCN_S Adam C10", 5.0),
                    C.alpha_below(("αReLU", "αELU"), "SMCN Adam C10"))),
        "full": Profile("full", {}, seeds=30, budget=FULL_BUDGET),
    },
    published={(row, col): Published(v, se) for row, vals in _TABLE.items() for col, (v, se) in zip(_COLS, vals)},
    published_note="mean ± s.e. over 30 runs; mean rank over the six columns (ABU 2.33, best)",
    figures=("activations", "parameters", "preact", "curves", "abu-fig2b", "abu-spread"),
    claims=CLAIMS,
)
