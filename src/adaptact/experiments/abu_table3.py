"""ABU paper, Table 3 (§5): blending/scaling weights pre-trained by a preceding run, fixed or trainable."""
from __future__ import annotations

from typing import Any

from adaptact.experiments.abu_common import ADAM, BASE, C10, FULL_BUDGET, QUICK, QUICK_BUDGET
from adaptact.experiments import checks as C
from adaptact.experiments.base import Cell, Column, Experiment, Lookup, Profile, Published, Row

FRESH = "1/m, trainable"
CONDITIONS = {  # column -> (trainable, normalised)
    "pre-trained, fixed": (False, False),
    "pre-trained, trainable": (True, False),
    "pre-trained (norm.), fixed": (False, True),
    "pre-trained (norm.), trainable": (True, True),
}


def from_preceding_run(cell: Cell, lookup: Lookup) -> dict[str, Any] | None:
    """Condition (a) is a fresh run; the others start from the final weights of run k of condition (a),
    for the same activation (pairing by seed index, as the authors' code pairs by run index)."""
    if cell.column == FRESH:
        return {}
    source = lookup(cell.row, FRESH, cell.seed)
    if source is None:
        return None
    trainable, normalise = CONDITIONS[cell.column]
    return {"act_trainable": trainable, "act_init": {"record": source.final_activations, "normalize": normalise}}


ACTS = [("αtanh", "scaled_tanh"), ("αReLU", "scaled_relu"), ("αELU", "scaled_elu"), ("ABU", "abu"),
        ("ABU_nrm", "abu_nrm"), ("ABU_abs", "abu_abs"), ("ABU_pos", "abu_pos"), ("ABU_soft", "abu_soft")]

_TABLE = {  # (a) .. (e); None where the paper prints "-"
    "αtanh": [(79.07, .07), (79.60, .07), (79.71, .06), None, None],
    "αReLU": [(79.23, .15), (79.62, .11), (79.77, .09), None, None],
    "αELU": [(82.60, .06), (79.45, .15), (81.22, .10), None, None],
    "ABU": [(83.12, .06), (80.93, .15), (82.02, .15), (80.99, .12), (82.88, .06)],
    "ABU_nrm": [(82.82, .07), (78.88, .08), (81.78, .14), None, None],
    "ABU_abs": [(83.14, .08), (79.80, .24), (82.42, .21), None, None],
    "ABU_pos": [(82.90, .05), (78.93, .07), (81.45, .16), None, None],
    "ABU_soft": [(82.54, .07), (82.69, .05), (81.69, .08), None, None],
}
_COLS = [FRESH, *CONDITIONS]
FIXED, TRAINABLE = "pre-trained, fixed", "pre-trained, trainable"
NORM_FIXED, NORM_TRAINABLE = "pre-trained (norm.), fixed", "pre-trained (norm.), trainable"


def _vs(text: str, row: str, column: str, than_column: str, higher: bool = True) -> C.Claim:
    return C.Claim(f"{row}: {text}", row, column, row, than_column=than_column, higher=higher)


CLAIMS = (  # §5, as the text states them
    _vs("fixed pre-trained alpha above the fresh run", "αtanh", FIXED, FRESH),
    _vs("fixed pre-trained alpha above the fresh run", "αReLU", FIXED, FRESH),
    _vs("trainable pre-trained alpha above fixed pre-trained", "αtanh", TRAINABLE, FIXED),
    _vs("trainable pre-trained alpha above fixed pre-trained", "αReLU", TRAINABLE, FIXED),
    _vs("fixed pre-trained alpha below the fresh run", "αELU", FIXED, FRESH, higher=False),
    *(_vs("fixed pre-trained weights below the fresh run", r, FIXED, FRESH, higher=False)
      for r in ("ABU", "ABU_nrm", "ABU_abs", "ABU_pos")),
    _vs("fixed pre-trained weights above the fresh run", "ABU_soft", FIXED, FRESH),
    _vs("trainable pre-trained weights below the fresh run", "ABU_soft", TRAINABLE, FRESH, higher=False),
    _vs("normalised pre-trained fixed weights above non-normalised", "ABU", NORM_FIXED, FIXED),
    _vs("normalised pre-trained trainable weights above non-normalised", "ABU", NORM_TRAINABLE, TRAINABLE),
    _vs("the fresh 1/m start above the best pre-trained one (normalised, trainable)", "ABU", FRESH, NORM_TRAINABLE),
)

EXPERIMENT = Experiment(
    name="abu-table3",
    title="ABU and adaptive scaling with weights pre-trained by a preceding run (SMCN, Adam, CIFAR-10)",
    paper="Sütfeld et al.: Adaptive Blending Units",
    source="Table 3, §5",
    rows=[Row(label, {"act": act}, baseline=None, derive=from_preceding_run) for label, act in ACTS],
    columns=[Column(c) for c in _COLS],
    base={**BASE, "model": "smcn", **ADAM, **C10},
    profiles={
        "quick": Profile(
            "quick", QUICK, rows=("αReLU", "ABU"), seeds=1,
            column_rows={c: ("αReLU", "ABU") if "norm" not in c else ("ABU",) for c in _COLS},
            expect="fixed weights unchanged by training (bit-exact); ABU with pre-trained fixed weights "
                   "not better than fresh ABU by more than noise (paper: -2.2 pp)", budget=QUICK_BUDGET,
            checks=(C.records_equal(("ABU", "pre-trained, fixed"), ("ABU", FRESH),
                                    "ABU: pre-trained fixed weights unchanged by training (bit-exact)"),
                    C.records_equal(("αReLU", "pre-trained, fixed"), ("αReLU", FRESH),
                                    "αReLU: pre-trained fixed alpha unchanged by training (bit-exact)"),
                    C.cell_gap(("ABU", FRESH), ("ABU", "pre-trained, fixed"), -1.0,
                               "ABU with pre-trained fixed weights not better than fresh ABU by more than 1 pp"))),
        "full": Profile("full", {}, seeds=30, column_rows={c: tuple(a for a, _ in ACTS) if "norm" not in c
                                                            else ("ABU",) for c in _COLS},
                        budget=FULL_BUDGET),
    },
    published={(row, col): Published(*v) for row, vals in _TABLE.items() for col, v in zip(_COLS, vals) if v},
    published_note=("'pre-trained' = the final weights after 60,000 steps of the preceding run (not its early-stopping "
                    "checkpoint); 'normalised' = divided by their sum (keeps the shape, resets the scale). The fresh "
                    "runs are the same runs as Tables 1 and 2 (shared by spec hash)."),
    figures=("parameters",),
    claims=CLAIMS,
)
