"""adaptact: trainable activation functions for PyTorch.

>>> import adaptact as aa
>>> act = aa.create("pau")                         # a Padé Activation Unit, (5, 4), per layer
>>> model = aa.replace_activations(model, "abu")   # swap every nn.ReLU/GELU/... in place
>>> groups = aa.param_groups(model, weight_decay=5e-4)   # activations: own group, no decay
"""
from adaptact import functional
from adaptact.fit import fit_blend, fit_pau, fit_polynomial, initial_coefficients
from adaptact.params import activation_parameters, param_groups
from adaptact.persist import apply_replacements, from_pretrained, load_model, save_model
from adaptact.registry import create, list_activations, register
from adaptact.surgery import harden, hardened_choices, replace_activations, replacement_report
from adaptact.units import ActivationUnit

__version__ = "0.1.0"

__all__ = [
    "ActivationUnit",
    "apply_replacements",
    "from_pretrained",
    "load_model",
    "save_model",
    "activation_parameters",
    "create",
    "fit_blend",
    "fit_pau",
    "fit_polynomial",
    "functional",
    "harden",
    "hardened_choices",
    "initial_coefficients",
    "list_activations",
    "param_groups",
    "plot_activations",
    "register",
    "replace_activations",
    "replacement_report",
]


def __getattr__(name: str):
    # matplotlib is imported only when a picture is asked for
    if name == "plot_activations":
        from adaptact.plot import plot_activations

        return plot_activations
    raise AttributeError(f"module 'adaptact' has no attribute {name!r}")
