"""Optimizers and learning-rate schedules of the papers, with the activation parameters in their own group."""
from __future__ import annotations

import math

import torch
from torch import nn

from adaptact.params import param_groups
from adaptact.train.fused_adadelta import Adadelta
from adaptact.train.spec import RunSpec

__all__ = ["apply_max_norm", "build_optimizer", "build_schedule", "penalty", "steps_for"]


def build_optimizer(model: nn.Module, spec: RunSpec) -> torch.optim.Optimizer:
    """Adam, AdamW, SGD (momentum) or Adadelta over two groups: network (``weight_decay``) and activations
    (``act_weight_decay``, learning rate ``act_lr`` or ``lr``). Adadelta is torch's with its CPU float32 step
    in one pass of C (:mod:`adaptact.train.fused_adadelta`: the same formulas, equal to float32 rounding)."""
    groups = param_groups(
        model, weight_decay=spec.weight_decay, act_lr=spec.act_lr, act_weight_decay=spec.act_weight_decay
    )
    if spec.optimizer == "adam":
        return torch.optim.Adam(groups, lr=spec.lr, betas=spec.betas)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, betas=spec.betas)
    if spec.optimizer == "adadelta":
        return Adadelta(groups, lr=spec.lr, rho=spec.rho, eps=1e-6)
    return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum)


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Rescale each row of the model's last ``nn.Linear`` weight to an L2 norm of at most ``max_norm``."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    norms = last.weight.norm(dim=1, keepdim=True)
    last.weight.mul_(torch.clamp(max_norm / norms.clamp(min=1e-12), max=1.0))


def build_schedule(
    optimizer: torch.optim.Optimizer, spec: RunSpec, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-update multiplier of each group's initial learning rate.

    - constant: 1
    - linear: from 1 to ``final_lr / lr`` at the last update (the ABU momentum setting)
    - exponential: ``gamma ** epoch``
    - step: ``gamma ** (number of milestones (epochs) passed)``

    With ``act_schedule=False`` the activation group keeps its rate.
    """
    o = spec.schedule_options

    def factor(step: int) -> float:
        if spec.schedule == "linear":
            end = o["final_lr"] / spec.lr
            return 1.0 + (end - 1.0) * min(step, total_steps) / max(total_steps, 1)
        epoch = step // steps_per_epoch
        if spec.schedule == "exponential":
            return o["gamma"] ** epoch
        if spec.schedule == "step":
            return o["gamma"] ** sum(epoch >= m for m in o["milestones"])
        return 1.0

    lambdas = [
        factor if (g.get("name") != "activations" or spec.act_schedule) else (lambda step: 1.0)
        for g in optimizer.param_groups
    ]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def penalty(model: nn.Module, spec: RunSpec, activation_ids: set[int]) -> torch.Tensor | float:
    """``l1 * sum |w| + l2 * sum w^2`` over the network's weights and biases (activation parameters excluded)."""
    if not (spec.l1 or spec.l2):
        return 0.0
    total = 0.0
    for p in model.parameters():
        if id(p) in activation_ids or not p.requires_grad:
            continue
        if spec.l1:
            total = total + spec.l1 * p.abs().sum()
        if spec.l2:
            total = total + spec.l2 * p.square().sum()
    return total


def steps_for(spec: RunSpec, train_size: int) -> tuple[int, int]:
    """(total updates, updates per epoch) for ``train_size`` examples (the last batch may be short)."""
    per_epoch = math.ceil(train_size / spec.batch_size)
    total = spec.steps if spec.steps is not None else max(1, round(spec.epochs * per_epoch))
    return total, per_epoch
