r"""The meta-neuron and VAF subnetworks as one straight-line formula: forward and a hand-written backward pass.

A meta-neuron (:func:`adaptact.functional.metaneuron`) maps each element
:math:`x` through a small residual network with inner activation :math:`A`:

.. math::
    s = p x + q,\quad u = A(s) \text{ (or } u = s\text{)},\quad
    a_k = w_k u + c_k,\quad h^{(1)}_k = A(a_k),\\
    b^{(l)}_j = c^{(l)}_j + \textstyle\sum_k W^{(l)}_{jk} h^{(l)}_k,\quad
    h^{(l+1)}_j = h^{(l)}_j + A(b^{(l)}_j),\\
    o = \textstyle\sum_k v_k h^{(L)}_k + d,\quad f = A(o) \text{ (or } f = o\text{)}.

For a fixed inner activation, width :math:`h` and depth :math:`L` this is a
fixed sequence of scalar statements, so it becomes one :class:`Formula` whose
parameters are all the subnetwork's weights (in the packing order of
:func:`adaptact.functional.metaneuron`: ``p, q, w1, c1, W, c, v, d``), and its
derivatives follow by reverse accumulation through the same statements:

.. math::
    \bar o = A'(o),\ \partial f/\partial v_k = \bar o\, h^{(L)}_k,\ \partial f/\partial d = \bar o,\
    \bar h^{(L)}_k = \bar o\, v_k;\\
    \bar b^{(l)}_j = \bar h^{(l+1)}_j A'(b^{(l)}_j),\
    \bar h^{(l)}_k = \bar h^{(l+1)}_k + \textstyle\sum_j W^{(l)}_{jk} \bar b^{(l)}_j,\
    \partial f/\partial W^{(l)}_{jk} = \bar b^{(l)}_j h^{(l)}_k,\ \partial f/\partial c^{(l)}_j = \bar b^{(l)}_j;\\
    \bar a_k = \bar h^{(1)}_k A'(a_k),\ \partial f/\partial w_k = \bar a_k u,\ \partial f/\partial c_k = \bar a_k,\
    \bar s = A'(s) \textstyle\sum_k w_k \bar a_k,\ \partial f/\partial p = \bar s x,\
    \partial f/\partial q = \bar s,\ \partial f/\partial x = \bar s\, p.

The VAF of Apicella et al. is the case :math:`L = 1` with linear input and
output neurons and no input weights (:math:`p = 1, q = 0` fixed):
:math:`f = \sum_k v_k A(w_k x + c_k) + d`.
"""
from __future__ import annotations

from functools import lru_cache

from adaptact.kernels.formulas import Formula, Statement, basis_formula, renamed

__all__ = ["subnet_formula", "subnet_param_names"]


def subnet_param_names(width: int, depth: int, input_params: bool) -> tuple[str, ...]:
    """The formula's parameter names, in the packing order (``W`` row-major: ``Wi{l}_{j}_{k}`` weighs ``h_k``
    in output ``j`` of inner layer ``l``)."""
    names = ["p", "q"] if input_params else []
    names += [f"w1_{k}" for k in range(width)] + [f"c1_{k}" for k in range(width)]
    names += [f"Wi{l}_{j}_{k}" for l in range(depth - 1) for j in range(width) for k in range(width)]
    names += [f"ci{l}_{j}" for l in range(depth - 1) for j in range(width)]
    names += [f"v_{k}" for k in range(width)] + ["d"]
    return tuple(names)


class _Activation:
    """Instances of the inner activation's statements at named arguments, each with its own temporaries."""

    def __init__(self, inner: str) -> None:
        self.formula = basis_formula(inner)
        self.count = 0

    def at(self, arg: str) -> tuple[list[Statement], list[Statement], str, str]:
        """``(value statements, derivative statements, f name, f' name)`` of the activation at ``arg``."""
        self.count += 1
        prefix = f"A{self.count}_"
        local = {name for name, _ in self.formula.value + self.formula.derivative}
        names = {name: prefix + name for name in local}
        names["x"] = arg
        value = [(names[n], renamed(e, names)) for n, e in self.formula.value]
        derivative = [(names[n], renamed(e, names)) for n, e in self.formula.derivative]
        return value, derivative, names["f"], names["dx"]


def _sum(terms: list[str]) -> str:
    return " + ".join(terms) if terms else "0.0"


@lru_cache(maxsize=None)
def subnet_formula(inner: str, width: int, depth: int, linear_io: bool, input_params: bool = True) -> Formula:
    """The meta-neuron of ``width`` and ``depth`` with inner activation ``inner`` (a fixed basis function with a
    fused formula) as one formula; ``linear_io``: linear input and output neurons; ``input_params=False``:
    no ``p, q`` (the VAF: ``u = x``)."""
    if width < 1 or depth < 1:
        raise ValueError(f"a subnetwork needs width and depth >= 1, got {width} and {depth}")
    act = _Activation(inner)
    value: list[Statement] = []
    grad: list[Statement] = []  # derivative statements, in the order of the reverse pass
    derivs: dict[str, str] = {}  # name of f' at each activation argument

    def apply(arg: str) -> str:
        v, d, f, df = act.at(arg)
        value.extend(v)
        grad.extend(d)
        derivs[arg] = df
        return f

    value.append(("s", "p * x + q" if input_params else "x"))
    u = "s" if linear_io else apply("s")
    value.append(("u", u))
    h = []
    for k in range(width):
        value.append((f"a_{k}", f"w1_{k} * u + c1_{k}"))
        h.append(apply(f"a_{k}"))
    layers = [h]
    for l in range(depth - 1):
        new = []
        for j in range(width):
            value.append((f"b{l}_{j}", _sum([f"ci{l}_{j}"] + [f"Wi{l}_{j}_{k} * {layers[-1][k]}" for k in range(width)])))
            value.append((f"h{l}_{j}", f"{layers[-1][j]} + {apply(f'b{l}_{j}')}"))
            new.append(f"h{l}_{j}")
        layers.append(new)
    value.append(("o", _sum([f"v_{k} * {layers[-1][k]}" for k in range(width)] + ["d"])))
    value.append(("f", "o" if linear_io else apply("o")))

    grad.append(("go", "1.0" if linear_io else derivs["o"]))
    grad += [(f"d_v_{k}", f"go * {layers[-1][k]}") for k in range(width)] + [("d_d", "go")]
    upstream = [f"go * v_{k}" for k in range(width)]
    for l in reversed(range(depth - 1)):
        below = layers[l]
        for j in range(width):
            grad.append((f"gh{l + 1}_{j}", upstream[j]))
            grad.append((f"gb{l}_{j}", f"gh{l + 1}_{j} * {derivs[f'b{l}_{j}']}"))
            grad.append((f"d_ci{l}_{j}", f"gb{l}_{j}"))
            grad += [(f"d_Wi{l}_{j}_{k}", f"gb{l}_{j} * {below[k]}") for k in range(width)]
        upstream = [_sum([f"gh{l + 1}_{k}"] + [f"Wi{l}_{j}_{k} * gb{l}_{j}" for j in range(width)]) for k in range(width)]
    for k in range(width):
        grad.append((f"ga_{k}", f"({upstream[k]}) * {derivs[f'a_{k}']}"))
        grad += [(f"d_w1_{k}", f"ga_{k} * u"), (f"d_c1_{k}", f"ga_{k}")]
    gu = _sum([f"w1_{k} * ga_{k}" for k in range(width)])
    grad.append(("gs", f"({gu})" if linear_io else f"({gu}) * {derivs['s']}"))
    if input_params:
        grad += [("d_p", "gs * x"), ("d_q", "gs"), ("dx", "gs * p")]
    else:
        grad.append(("dx", "gs"))
    io = "linear" if linear_io else "act"
    name = f"subnet_{inner}_{width}x{depth}_{io}{'' if input_params else '_vaf'}"
    return Formula(name, subnet_param_names(width, depth, input_params), tuple(value), tuple(grad))
