r"""From a family's call (the signature of :mod:`adaptact.functional`) to a program and packed parameters.

Each ``lower_<family>`` takes exactly the reference function's arguments and
returns either a :class:`Lowered` (a :class:`~adaptact.kernels.program.Program`
and its parameters packed as one ``(G, P)`` float32 tensor, ``G = 1`` for a
per-layer unit or ``C`` channels, built with differentiable torch ops so that
autograd maps the packed gradient back to each parameter) or a string: the
reason why the fused kernels cannot compute this call (the dispatcher then
falls back to the reference, or reports the reason when a fused backend was
forced). Blend weights are normalised here, by the reference's own
:func:`~adaptact.functional.blend_weights` on the ``m`` weights only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.cdfs import resolve_cdf
from adaptact.kernels.formulas import (
    APL_HINGE,
    FUSED_BASES,
    SRELU,
    agumbel_formula,
    FUSED_CDFS,
    arelu_formula,
    basis_formula,
    cdf_formula,
    basis_formulas,
    pau_formula,
    rpau_formula,
)
from adaptact.kernels.program import Program, Term
from adaptact.kernels.subnet_formula import subnet_formula

__all__ = ["Lowered", "LOWERINGS", "THETAS", "THETA_INPUTS"]


@dataclass(frozen=True)
class Lowered:
    """A call ready for a fused engine: the program and its packed parameters ``theta`` (``(G, P)``)."""

    program: Program
    theta: Tensor


Lowering = Union[Lowered, str]


def _groups(x: Tensor, params: Sequence[tuple[Optional[Tensor], int]]) -> Union[int, str]:
    """``G``: 1 when every parameter is shared, ``C`` when every one is per channel; else a reason."""
    present = [(p, t) for p, t in params if p is not None]
    shared = [p.dim() == t for p, t in present]
    if all(shared):
        return 1
    if any(shared) or any(p.dim() != t + 1 for p, t in present):
        return "parameters mix per-layer and per-channel shapes"
    if x.dim() < 2:
        return "per-channel parameters need an input of shape (N, C, *)"
    if any(p.shape[0] != x.shape[1] for p, _ in present):
        return "the parameters' channel count differs from the input's (dim 1)"
    return x.shape[1]


def _pack(groups: int, params: Sequence[tuple[Optional[Tensor], int]]) -> Tensor:
    """Concatenate the present parameters as float32 columns of a ``(G, P)`` tensor."""
    cols = [p.to(torch.float32).reshape(groups, -1) for p, t in params if p is not None]
    return torch.cat(cols, dim=1)


def _lower(x: Tensor, params: Sequence[tuple[Optional[Tensor], int]], program: Program) -> Lowering:
    g = _groups(x, params)
    if isinstance(g, str):
        return g
    return Lowered(program, _pack(g, params))


def _basis_terms(basis: Sequence[str], training: bool, first_param_slot: int, weighted: bool) -> Union[list[Term], str]:
    unknown = [b for b in basis if b not in FUSED_BASES]
    if unknown:
        return f"basis functions {unknown} have no fused formula"
    terms, slot = [], first_param_slot
    for j, f in enumerate(basis_formulas(tuple(basis), training)):
        terms.append(Term(f, j if weighted else None, tuple(range(slot, slot + len(f.params)))))
        slot += len(f.params)
    return terms


def _basis_param_count(basis: Sequence[str]) -> int:
    return sum(AF.basis_function(b).num_params for b in basis)


def lower_pau(x: Tensor, numerator: Tensor, denominator: Tensor, form: str = "A") -> Lowering:
    if form not in AF.PAU_FORMS:
        return f"unknown PAU form {form!r}"
    if numerator.dim() == 0 or denominator.dim() == 0:
        return "PAU coefficients need a last axis"
    m, n = numerator.shape[-1] - 1, denominator.shape[-1]
    if m < 0:
        return "a PAU needs at least one numerator coefficient"
    program = Program((Term(pau_formula(m, n, form), None, tuple(range(m + 1 + n))),), m + 1 + n)
    return _lower(x, [(numerator, 1), (denominator, 1)], program)


def lower_rpau_training(x: Tensor, numerator: Tensor, denominator: Tensor, delta: float, form: str = "A") -> Lowering:
    """:func:`adaptact.functional.rpau_training`: the PAU lowering with the noisy formula."""
    if not 0.0 <= delta < 1.0:
        return f"RPAU noise delta {delta!r} outside [0, 1) (the fused kernel needs 1 + u > 0)"
    lowered = lower_pau(x, numerator, denominator, form)
    if isinstance(lowered, str):
        return lowered
    m, n = numerator.shape[-1] - 1, denominator.shape[-1]
    program = Program((Term(rpau_formula(m, n, form, float(delta)), None, tuple(range(m + 1 + n))),), m + 1 + n)
    return Lowered(program, lowered.theta)


def lower_slaf(x: Tensor, coefficients: Tensor) -> Lowering:
    if coefficients.dim() == 0 or coefficients.shape[-1] == 0:
        return "SLAF coefficients need a non-empty last axis"
    k = coefficients.shape[-1]
    return _lower(x, [(coefficients, 1)], Program((Term(pau_formula(k - 1, 0, "A"), None, tuple(range(k))),), k))


def lower_blend(
    x: Tensor,
    weights: Tensor,
    basis: Sequence[str],
    basis_params: Optional[Tensor] = None,
    normalization: str = "none",
    training: bool = False,
    basis_batchnorm: bool = False,
) -> Lowering:
    basis = tuple(basis)
    if basis_batchnorm:
        return "batch normalisation of the basis outputs needs batch statistics (no fused kernel)"
    if normalization not in AF.NORMALIZATIONS:
        return f"unknown normalization {normalization!r}"
    if weights.dim() == 0 or weights.shape[-1] != len(basis):
        return "blend weights do not match the basis"
    k = _basis_param_count(basis)
    if (basis_params.shape[-1] if basis_params is not None and basis_params.dim() else 0) != k:
        return "basis_params do not match the basis"
    terms = _basis_terms(basis, training, len(basis), weighted=True)
    if isinstance(terms, str):
        return terms
    theta = blend_theta(x, weights, basis, basis_params, normalization)
    return theta if isinstance(theta, str) else Lowered(Program(tuple(terms), len(basis) + k), theta)


def blend_theta(x: Tensor, weights: Tensor, basis: Sequence[str], basis_params: Optional[Tensor] = None,
                normalization: str = "none", *_options: bool, **_named: bool) -> Union[Tensor, str]:
    """The packed ``(G, P)`` parameters of a blend call (normalised weights, then the basis parameters), with
    autograd: the part of :func:`lower_blend` that changes from call to call of one signature (its other
    options, ``training`` and ``basis_batchnorm``, shape the program only)."""
    w = AF.blend_weights(weights.to(torch.float32), normalization)
    lowered = _lower(x, [(w, 1), (basis_params, 1)], None)
    return lowered if isinstance(lowered, str) else lowered.theta


def blend_theta_inputs(x: Tensor, weights: Tensor, basis: Sequence[str], basis_params: Optional[Tensor] = None,
                       normalization: str = "none", *_options: bool, **_named: bool) -> tuple[str, Tensor,
                                                                                          Optional[Tensor]]:
    """What :func:`blend_theta` makes the packed parameters of: ``(normalization, weights, basis_params)``, so
    that the C++ node (:mod:`adaptact.kernels.native_node`) computes them with the same torch operations."""
    return normalization, weights, basis_params


def lower_scaled(
    x: Tensor, alpha: Tensor, base: str = "relu", basis_params: Optional[Tensor] = None, training: bool = False
) -> Lowering:
    if base not in AF.BASIS_FUNCTIONS:
        return f"unknown base {base!r}"
    k = _basis_param_count([base])
    if (basis_params.shape[-1] if basis_params is not None and basis_params.dim() else 0) != k:
        return "basis_params do not match the base"
    terms = _basis_terms([base], training, 1, weighted=True)
    if isinstance(terms, str):
        return terms
    return _lower(x, [(alpha, 0), (basis_params, 1)], Program(tuple(terms), 1 + k))


def lower_swish_beta(x: Tensor, beta: Tensor) -> Lowering:
    return _lower(x, [(beta, 0)], Program((Term(basis_formula("swish_beta"), None, (0,)),), 1))


def lower_affine(
    x: Tensor,
    base: str = "sigmoid",
    a_in: Optional[Tensor] = None,
    b_in: Optional[Tensor] = None,
    a_out: Optional[Tensor] = None,
    b_out: Optional[Tensor] = None,
    basis_params: Optional[Tensor] = None,
    training: bool = False,
) -> Lowering:
    if base not in AF.BASIS_FUNCTIONS:
        return f"unknown base {base!r}"
    params = [(a_in, 0), (b_in, 0), (a_out, 0), (b_out, 0)]
    slots: list[Optional[int]] = []
    for p, _ in params:
        slots.append(None if p is None else sum(s is not None for s in slots))
    if all(s is None for s in slots) and basis_params is None:
        return "an affine unit without parameters"
    first = sum(s is not None for s in slots)
    k = _basis_param_count([base])
    if (basis_params.shape[-1] if basis_params is not None and basis_params.dim() else 0) != k:
        return "basis_params do not match the base"
    terms = _basis_terms([base], training, first, weighted=False)
    if isinstance(terms, str):
        return terms
    term = Term(terms[0].formula, slots[2], terms[0].params)
    program = Program((term,), first + k, input_scale=slots[0], input_shift=slots[1], output_shift=slots[3])
    return _lower(x, params + [(basis_params, 1)], program)


def lower_agumbel(x: Tensor, rho: Tensor) -> Lowering:
    return _lower(x, [(rho, 0)], Program((Term(agumbel_formula(), None, (0,)),), 1))


def lower_arelu(x: Tensor, rho: Tensor, cdf: str = "exponential") -> Lowering:
    if cdf not in AF.ARELU_CDFS:
        return f"unknown cdf {cdf!r}"
    return _lower(x, [(rho, 0)], Program((Term(arelu_formula(cdf), None, (0,)),), 1))


def _lower_cdf(x: Tensor, rho: Tensor, cdf: str, relu: bool) -> Lowering:
    name = resolve_cdf(cdf)
    if name not in FUSED_CDFS:
        return f"the {name} CDF has no fused formula (it needs {'erf' if name == 'normal' else 'arctan'})"
    return _lower(x, [(rho, 0)], Program((Term(cdf_formula(name, relu), None, (0,)),), 1))


def lower_adaptive_cdf(x: Tensor, rho: Tensor, cdf: str = "logistic") -> Lowering:
    return _lower_cdf(x, rho, cdf, relu=False)


def lower_cdf_relu(x: Tensor, rho: Tensor, cdf: str = "logistic") -> Lowering:
    return _lower_cdf(x, rho, cdf, relu=True)


def lower_apl(x: Tensor, a: Tensor, b: Tensor) -> Lowering:
    """APL: a ReLU term and ``S`` hinge terms, hinge ``s`` weighted by slot ``s`` with its ``b`` in slot ``S + s``."""
    if a.dim() == 0 or a.shape != b.shape:
        return "APL's a and b need the same shape with a last axis of hinges"
    k = a.shape[-1]
    terms = (Term(basis_formula("relu"), None, ()),) + tuple(Term(APL_HINGE, s, (k + s,)) for s in range(k))
    return _lower(x, [(a, 1), (b, 1)], Program(terms, 2 * k))


def lower_srelu(x: Tensor, t_left: Tensor, a_left: Tensor, t_right: Tensor, a_right: Tensor) -> Lowering:
    params = [(p, 0) for p in (t_left, a_left, t_right, a_right)]
    return _lower(x, params, Program((Term(SRELU, None, (0, 1, 2, 3)),), 4))


#: the largest subnetwork written as one fused formula (its statements grow as depth x width^2)
SUBNET_MAX_WIDTH, SUBNET_MAX_PARAMS = 16, 160


def _lower_subnet(x: Tensor, inner: str, width: int, depth: int, linear_io: bool, input_params: bool,
                  params: Sequence[Tensor]) -> Lowering:
    """A meta-neuron or VAF call: one formula per (inner, width, depth), the ``(G, P)`` parameters in order."""
    act = AF.basis_function(inner) if inner in FUSED_BASES else None
    if act is None or act.num_params or act.stochastic:
        return f"inner activation {inner!r} has no fused formula (or has parameters)"
    groups = params[0].shape[0] if params[0].dim() else 0
    if groups < 1 or any(p.dim() == 0 or p.shape[0] != groups for p in params):
        return "subnetwork parameters need a leading group axis of one size"
    if groups > 1 and (x.dim() < 2 or x.shape[1] != groups):
        return "the parameters' group count differs from the input's channels (dim 1)"
    theta = torch.cat([p.to(torch.float32).reshape(groups, -1) for p in params], dim=1)
    if width > SUBNET_MAX_WIDTH or theta.shape[1] > SUBNET_MAX_PARAMS:
        return f"a subnetwork of width {width} and {theta.shape[1]} parameters is too large for one fused formula"
    formula = subnet_formula(inner, width, depth, linear_io, input_params)
    if theta.shape[1] != len(formula.params):
        return "subnetwork parameter shapes do not match its width and depth"
    return Lowered(Program((Term(formula, None, tuple(range(theta.shape[1]))),), theta.shape[1]), theta)


def lower_metaneuron(
    x: Tensor, in_weight: Tensor, in_bias: Tensor, hidden_weight: Tensor, hidden_bias: Tensor,
    inner_weights: Tensor, inner_biases: Tensor, out_weight: Tensor, out_bias: Tensor,
    inner: str = "sigmoid", linear_io: bool = False,
) -> Lowering:
    if hidden_weight.dim() != 2 or inner_weights.dim() != 4:
        return "meta-neuron weights need shapes (G, h) and (G, L-1, h, h)"
    width, depth = hidden_weight.shape[1], inner_weights.shape[1] + 1
    params = (in_weight, in_bias, hidden_weight, hidden_bias, inner_weights, inner_biases, out_weight, out_bias)
    return _lower_subnet(x, inner, width, depth, bool(linear_io), True, params)


def lower_vaf(x: Tensor, in_weight: Tensor, in_bias: Tensor, out_weight: Tensor, out_bias: Tensor,
              inner: str = "relu") -> Lowering:
    if in_weight.dim() != 2:
        return "VAF weights need the shape (G, h)"
    return _lower_subnet(x, inner, in_weight.shape[1], 1, True, False, (in_weight, in_bias, out_weight, out_bias))


#: family name -> the per-call packing of a family whose packing is no gather (computes only theta, with
#: autograd, once the signature's program is known)
THETAS = {"blend": blend_theta}
#: family -> what its THETAS function computes from (for the C++ node's copy of that computation)
THETA_INPUTS = {"blend": blend_theta_inputs}

#: family name -> lowering, for the families the fused engines serve
LOWERINGS = {
    "pau": lower_pau,
    "rpau_training": lower_rpau_training,
    "slaf": lower_slaf,
    "blend": lower_blend,
    "scaled": lower_scaled,
    "swish_beta": lower_swish_beta,
    "affine": lower_affine,
    "agumbel": lower_agumbel,
    "arelu": lower_arelu,
    "adaptive_cdf": lower_adaptive_cdf,
    "cdf_relu": lower_cdf_relu,
    "apl": lower_apl,
    "srelu": lower_srelu,
    "metaneuron": lower_metaneuron,
    "vaf": lower_vaf,
}
