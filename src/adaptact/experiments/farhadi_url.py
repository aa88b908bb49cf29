"""Farhadi, Nia & Lodi, Table 4 (§5): web-session URLs. Private data: documented, not reproducible."""
from __future__ import annotations

from adaptact.experiments.base import Experiment, Profile
from adaptact.experiments.farhadi_common import conv_rows, dense_columns, published_grid

_PRECISION = {"ReLU": (68.0, 68.1, 68.0), "AReLU": (68.1, 68.0, 67.9), "AGumb": (68.1, 68.2, 68.1)}

EXPERIMENT = Experiment(
    name="farhadi-url",
    title="Adaptive activations on URL sequences of web sessions (precision)",
    paper="Farhadi, Nia & Lodi: Activation Adaptation in Neural Networks",
    source="Table 4, §5",
    rows=conv_rows(baselines=False),
    columns=dense_columns(),
    base=dict(model="sentence_cnn"),
    profiles={"quick": Profile("quick"), "full": Profile("full")},
    published=published_grid(_PRECISION),
    published_note="precision (%); recall is within 0.3 pp of it in every cell",
    unavailable="the paper's URL data (about 13,500 web sessions, 4 classes) are private; no copy can be had",
)
