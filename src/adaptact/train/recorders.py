"""Recorders cheap enough to leave on: activation parameters over training, pre-activation statistics."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import Tensor, nn

from adaptact.params import activation_layers, activation_units

__all__ = ["ActivationRecorder", "PreactivationRecorder", "activation_state", "float32_values", "input_ranges"]


def float32_values(t: Tensor) -> Any:
    """``t`` as nested lists of floats with 9 significant digits: every float32 value exactly (9 digits tell
    any two float32 apart), in about half the characters of float64's repr."""
    flat = [float(f"{v:.9g}") for v in t.detach().float().cpu().reshape(-1).tolist()]
    if t.dim() == 0:
        return flat[0]
    return torch.tensor(flat, dtype=torch.float64).view(t.shape).tolist()


def _unit_values(unit: nn.Module) -> dict[str, Any]:
    values = {name: float32_values(p) for name, p in unit.named_parameters()}
    if hasattr(unit, "effective_weights"):
        values["effective_weights"] = float32_values(unit.effective_weights())
    return values


@torch.no_grad()
def activation_state(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Every unit's parameters (and normalised blend weights) as nested lists: ``{unit: {param: values}}``."""
    return {name: _unit_values(unit) for name, unit in activation_units(model)}


class ActivationRecorder:
    """Records every unit's parameters at chosen steps: ``history["units"][unit][param]`` is a list over steps."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.steps: list[int] = []
        self.units: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))

    @torch.no_grad()
    def record(self, step: int) -> None:
        self.steps.append(step)
        for unit, values in activation_state(self.model).items():
            for param, v in values.items():
                self.units[unit][param].append(v)

    def history(self) -> dict[str, Any]:
        return {"steps": self.steps, "units": {u: dict(p) for u, p in self.units.items()}}

    def load_history(self, history: dict[str, Any]) -> None:
        """Continue from an earlier :meth:`history` (a resumed run)."""
        self.steps = list(history["steps"])
        for unit, params in history["units"].items():
            for param, values in params.items():
                self.units[unit][param] = list(values)


class PreactivationRecorder:
    """Mean and variance of every activation's input (fixed activations too) on a fixed probe batch,
    and the variance of every weight tensor.

    This is the covariate-shift analysis of the ABU paper (Fig. 2B). The probe runs in
    eval mode, without gradients.
    """

    def __init__(self, model: nn.Module, probe: Tensor) -> None:
        self.model, self.probe = model, probe
        self.steps: list[int] = []
        self.stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    @torch.no_grad()
    def record(self, step: int) -> None:
        self.steps.append(step)
        hooks = []
        for name, unit in activation_layers(self.model):
            def hook(module, args, name=name):
                x = args[0].float()
                self.stats[name]["mean"].append(x.mean().item())
                self.stats[name]["var"].append(x.var().item())

            hooks.append(unit.register_forward_pre_hook(hook))
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(self.probe)
        finally:
            self.model.train(was_training)
            for h in hooks:
                h.remove()
        for name, m in self.model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                self.stats[name]["weight_var"].append(m.weight.float().var().item())

    def history(self) -> dict[str, Any]:
        return {"steps": self.steps, "layers": {k: dict(v) for k, v in self.stats.items()}}

    def load_history(self, history: dict[str, Any]) -> None:
        """Continue from an earlier :meth:`history` (a resumed run)."""
        self.steps = list(history["steps"])
        for layer, stats in history["layers"].items():
            for stat, values in stats.items():
                self.stats[layer][stat] = list(values)


@torch.no_grad()
def input_ranges(model: nn.Module, probe: Tensor) -> dict[str, dict[str, list[float]]]:
    """The smallest and largest input each trainable unit sees on ``probe`` (eval mode, no gradients), per
    channel (dim 1; one entry for 1-D inputs): ``{unit: {"min": [...], "max": [...]}}``. For drawing a
    learned function over the range its inputs cover (Davis Fig. 10)."""
    ranges: dict[str, dict[str, list[float]]] = {}
    hooks = []
    for name, unit in activation_units(model):
        def hook(module, args, name=name):
            x = args[0].detach().float()
            x = x.transpose(0, 1).reshape(x.shape[1], -1) if x.dim() >= 2 else x.reshape(1, -1)
            ranges[name] = {"min": x.amin(1).cpu().tolist(), "max": x.amax(1).cpu().tolist()}

        hooks.append(unit.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(probe)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return ranges
