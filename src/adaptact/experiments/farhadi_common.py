"""What Farhadi et al.'s real-data tables share: convolutional activations as rows, dense ones as columns."""
from __future__ import annotations

from adaptact.experiments.base import Column, Published, Row

ACTS = [("ReLU", "relu"), ("AReLU", "arelu"), ("AGumb", "agumbel")]


def conv_rows(baselines: bool = True) -> list[Row]:
    """One row per convolutional activation; the adaptive ones are tested against ReLU."""
    return [Row(f"conv {label}", {"act": {"act_conv": act}},
                baseline="conv ReLU" if baselines and act != "relu" else None) for label, act in ACTS]


def dense_columns() -> list[Column]:
    """One column per activation of the dense hidden layer."""
    return [Column(f"dense {label}", {"act": {"act_fc": act}}) for label, act in ACTS]


def published_grid(table: dict[str, tuple[float, float, float]]) -> dict[tuple[str, str], Published]:
    """``{conv label: (dense ReLU, dense AReLU, dense AGumb)}`` as the experiment's published cells."""
    return {(f"conv {r}", f"dense {c}"): Published(v) for r, vals in table.items() for (c, _), v in zip(ACTS, vals)}
