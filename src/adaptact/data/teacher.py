"""Synthetic teacher-network data of Farhadi, Nia & Lodi (2020), section 4.1.

A random fully connected "teacher" labels Gaussian inputs; student networks with the same
depth and width are then fitted to the labels. As implemented (proposals where the paper
is silent, see EXPERIMENTS.md ``farhadi-sim``):

- inputs ``x ~ N(0, I)`` with ``features`` dimensions, ``samples`` of them;
- ``hidden_layers`` layers of ``width`` units, each ``act(W h + b)`` with ``act`` sigmoid or ReLU;
- every weight drawn from the equal mixture ``0.5 N(-1, s^2) + 0.5 N(+1, s^2)`` and every
  bias from ``N(0, s^2)``, with ``s^2 = 0.5`` (``variance_is_sd=True``: ``s = 0.5``);
- one linear output unit drawn from the same laws; label ``1[output > 0]``
  (``label="threshold"``) or ``Bernoulli(sigmoid(output))`` (``label="bernoulli"``), or
  ``1[output > median]`` (``label="median"``, our addition: balanced classes by construction).

Beware: with these laws deep teachers often put (almost) every sample in one class under
the threshold rule (10 features, width 10, 20,000 samples: with 8 sigmoid layers the positive
fraction rounds to 0.000 or 1.000 for each of ``teacher_seed`` 0..5, with 8 ReLU layers for 4
of them), since the deep layers' output barely depends on the input.
``meta["positive_fraction"]`` records the balance; ``label="median"`` is the way out if a
balanced task is wanted.

All draws come from one ``torch.Generator`` seeded with ``teacher_seed``, in float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from adaptact.data.record import RawData
from adaptact.data.splits import kfold, seeded

__all__ = ["Teacher", "make_teacher", "read_teacher"]

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}
LABELS = ("threshold", "bernoulli", "median")


@dataclass
class Teacher:
    """A teacher network: ``weights[i]`` is ``(out, in)``, the last entry the ``(1, width)`` output unit."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    activation: str

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations ``(N, width)`` for inputs ``x`` ``(N, features)``."""
        act = ACTIVATIONS[self.activation]
        h = x.to(self.weights[0].dtype)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = act(h @ w.T + b)
        return h

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """The linear output unit's value ``(N,)``; label 1 where it is positive (threshold rule)."""
        return (self.hidden(x) @ self.weights[-1].T + self.biases[-1]).squeeze(1)


def make_teacher(features: int = 10, hidden_layers: int = 1, width: int = 10, activation: str = "sigmoid", *,
                 variance_is_sd: bool = False, generator: torch.Generator) -> Teacher:
    """Draw a teacher's weights (mixture ``0.5 N(-1, .5) + 0.5 N(1, .5)``) and biases (``N(0, .5)``) in float64."""
    for name, value in (("features", features), ("hidden_layers", hidden_layers), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    sd = 0.5 if variance_is_sd else math.sqrt(0.5)
    sizes = [features] + [width] * hidden_layers + [1]
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        sign = torch.where(torch.rand(fan_out, fan_in, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
        weights.append(sign + sd * torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64))
        biases.append(sd * torch.randn(fan_out, generator=generator, dtype=torch.float64))
    return Teacher(weights, biases, activation)


def read_teacher(*, features: int = 10, samples: int = 100_000, hidden_layers: int = 1, width: int = 10,
                 activation: str = "sigmoid", label: str = "threshold", variance_is_sd: bool = False,
                 teacher_seed: int = 0, folds: int = 5, fold: int = 0, split_seed: int = 0) -> RawData:
    """Generate the teacher data set and take fold ``fold`` of ``folds`` (stratified) as the test split.

    ``folds=5, fold=0`` (the default) is a single 80/20 split; the paper averages over all 5 folds.
    ``teacher_seed`` fixes the teacher, inputs and labels; ``split_seed`` the fold assignment.
    Features are float32 ``(N, features)``; ``meta`` records the class balance.
    """
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}; got {label!r}")
    if not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an int >= 2, got {samples!r}")
    g = seeded(teacher_seed, "teacher")
    teacher = make_teacher(features, hidden_layers, width, activation, variance_is_sd=variance_is_sd, generator=g)
    x = torch.randn(samples, features, generator=g, dtype=torch.float64)
    out = teacher.output(x)
    if label == "threshold":
        y = (out > 0).long()
    elif label == "median":
        y = (out > out.median()).long()
    else:
        y = (torch.rand(samples, generator=g, dtype=torch.float64) < torch.sigmoid(out)).long()
    train, test = kfold(y, folds, fold, seeded(split_seed, "folds"))
    x = x.float()
    return RawData(x[train], y[train], x[test], y[test], ["0", "1"], kind="vector", scale=None,
                   meta={"features": features, "samples": samples, "hidden_layers": hidden_layers, "width": width,
                         "activation": activation, "label": label, "variance_is_sd": variance_is_sd,
                         "teacher_seed": teacher_seed, "folds": folds, "fold": fold, "split_seed": split_seed,
                         "positive_fraction": float(y.double().mean()), "order": "generation order"})
