"""Lottery-ticket filter pruning of convolutions (Frankle & Carbin 2019, as PAU App. A.4.3 uses it).

One round of the procedure is one run: the spec's ``prune`` option lists the filters already
removed from every convolution; the run builds the network from the spec's seed (so every
remaining weight starts from its original initial value: the "reset" of the lottery ticket),
masks the removed filters so that they stay exactly zero through training, trains, and records
a score per filter of the trained weights. The next round removes, among the filters still
there, the lowest-scoring ones until the next fraction of each convolution's filters is gone
(:func:`next_pruned`), and trains again from the initial weights.

``prune`` (a :class:`~adaptact.train.RunSpec` field) is a dict:
    ``fraction``: the share of every convolution's filters this round has removed (for reports);
    ``pruned``: ``{convolution name: [filter indices]}`` removed (absent: none);
    ``score``: how a filter is ranked: ``"l1"`` (sum of the absolute weights, the proposal) or
    ``"sum"`` (the paper's literal "sum of its weights", signed).

A filter is one output channel of a convolution (all its input weights, and its bias); masks
work for grouped and depthwise convolutions alike.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["SCORES", "FilterMask", "apply_pruning", "check_prune", "convolutions", "filter_scores", "next_pruned",
           "pruning_summary"]

SCORES = ("l1", "sum")
_KEYS = ("fraction", "pruned", "score")


def check_prune(options: Any) -> None:
    """Reject a malformed ``prune`` option with a message naming the problem."""
    if not isinstance(options, dict):
        raise ValueError(f"prune must be a dict with keys {list(_KEYS)}, got {type(options).__name__}")
    unknown = sorted(set(options) - set(_KEYS))
    if unknown:
        raise ValueError(f"prune: unknown key(s) {unknown}; keys are {list(_KEYS)}")
    fraction = options.get("fraction", 0.0)
    if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"prune['fraction'] must be in [0, 1), got {fraction!r}")
    if options.get("score", "l1") not in SCORES:
        raise ValueError(f"prune['score'] must be one of {list(SCORES)}, got {options.get('score')!r}")
    pruned = options.get("pruned", {})
    if not isinstance(pruned, dict) or not all(
            isinstance(v, list) and all(isinstance(i, int) and i >= 0 for i in v) for v in pruned.values()):
        raise ValueError("prune['pruned'] must map convolution names to lists of filter indices (ints >= 0)")


def convolutions(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every 2-D convolution of ``model`` with its qualified name (the layers pruning acts on)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


class FilterMask(nn.Module):
    """A parametrization ``w -> w * keep`` along the output channels: removed filters are exactly zero
    in the forward pass, so they get no gradient and stay zero whatever the optimizer does."""

    def __init__(self, keep: Tensor) -> None:
        super().__init__()
        self.register_buffer("keep", keep)

    def forward(self, w: Tensor) -> Tensor:
        return w * self.keep.to(w.dtype).view(-1, *([1] * (w.dim() - 1)))


def apply_pruning(model: nn.Module, options: dict[str, Any] | None) -> None:
    """Mask the filters ``options["pruned"]`` names (weights and biases); no-op for ``None``.

    Call it after building the model and before building the optimizer (masked layers hold their
    weights as ``parametrizations.weight.original``).
    """
    if options is None:
        return
    convs = dict(convolutions(model))
    pruned = options.get("pruned", {})
    unknown = sorted(set(pruned) - set(convs))
    if unknown:
        raise ValueError(f"prune: the model has no convolution(s) {unknown[:3]}{' ...' if len(unknown) > 3 else ''}")
    for name, indices in pruned.items():
        conv = convs[name]
        if indices and max(indices) >= conv.out_channels:
            raise ValueError(f"prune: {name} has {conv.out_channels} filters, index {max(indices)} is out of range")
        if not indices:
            continue
        keep = torch.ones(conv.out_channels, dtype=torch.bool, device=conv.weight.device)
        keep[indices] = False
        parametrize.register_parametrization(conv, "weight", FilterMask(keep))
        if conv.bias is not None:
            parametrize.register_parametrization(conv, "bias", FilterMask(keep.clone()))


@torch.no_grad()
def filter_scores(model: nn.Module, score: str = "l1") -> dict[str, list[float]]:
    """Per convolution, one score per filter of its (masked) weights: ``l1`` sum of |w|, ``sum`` signed sum."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
    out = {}
    for name, conv in convolutions(model):
        w = conv.weight.flatten(1)
        out[name] = (w.abs().sum(1) if score == "l1" else w.sum(1)).double().cpu().tolist()
    return out


@torch.no_grad()
def pruning_summary(model: nn.Module, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a pruned run records: the filter scores of the trained weights, the filters removed, their
    count, and whether every removed filter is still exactly zero (``masks_held``)."""
    if options is None:
        return None
    pruned = options.get("pruned", {})
    convs = dict(convolutions(model))
    held = all(float(convs[name].weight[indices].abs().max()) == 0.0 for name, indices in pruned.items() if indices)
    return {
        "fraction": options.get("fraction", 0.0),
        "score": options.get("score", "l1"),
        "pruned": pruned,
        "scores": filter_scores(model, options.get("score", "l1")),
        "filters": sum(c.out_channels for c in convs.values()),
        "pruned_filters": sum(len(v) for v in pruned.values()),
        "masks_held": held,
    }


def next_pruned(summary: dict[str, Any], fraction: float) -> dict[str, list[int]]:
    """The filters removed in the next round: those removed already, plus, in every convolution, the
    lowest-scoring remaining filters until ``round(fraction * filters)`` are removed (at least one filter
    stays). Ties go to the lower index."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    out = {}
    for name, scores in summary["scores"].items():
        removed = set(summary.get("pruned", {}).get(name, []))
        target = min(round(fraction * len(scores)), len(scores) - 1)
        remaining = sorted((s, i) for i, s in enumerate(scores) if i not in removed)
        extra = [i for _, i in remaining[:max(0, target - len(removed))]]
        chosen = sorted(removed | set(extra))
        if chosen:
            out[name] = chosen
    return out
