"""Farhadi, Nia & Lodi, Table 4 (§5): web-session URLs. Private data: documented, not reproducible."""
from __future__ import annotations

from adaptact.experiments.base import Column, Experiment, Profile, Published, Row

ACTS = [("ReLU", "relu"), ("AReLU", "arelu"), ("AGumb", "agumbel")]
_PRECISION = {"ReLU": (68.0, 68.1, 68.0), "AReLU": (68.1, 68.0, 67.9), "AGumb": (68.1, 68.2, 68.1)}

EXPERIMENT = Experiment(
    name="farhadi-url",
    title="Adaptive activations on URL sequences of web sessions (precision)",
    paper="Farhadi, Nia & Lodi: Activation Adaptation in Neural Networks",
    source="Table 4, §5",
    rows=[Row(f"conv {label}", {"act": {"act_conv": act}}) for label, act in ACTS],
    columns=[Column(f"dense {label}", {"act": {"act_fc": act}}) for label, act in ACTS],
    base=dict(model="sentence_cnn"),
    profiles={"quick": Profile("quick"), "full": Profile("full")},
    published={(f"conv {r}", f"dense {c}"): Published(v) for r, vals in _PRECISION.items()
               for (c, _), v in zip(ACTS, vals)},
    published_note="precision (%); recall is within 0.3 pp of it in every cell",
    unavailable="the paper's URL data (about 13,500 web sessions, 4 classes) are private; no copy can be had",
)
