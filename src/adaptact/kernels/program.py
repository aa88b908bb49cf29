r"""An elementwise unit as one straight-line program: value, input derivative, parameter derivatives.

Every family the fused kernels serve is a weighted sum of formulas of an
affinely transformed input:

.. math::
    z = a_{in} x + b_{in}, \qquad
    y = \sum_t w_t\, f_t(z; \theta_t) + b_{out}

where :math:`a_{in}, b_{in}, w_t, b_{out}` may each be absent (1 or 0). All
trainable scalars live in *slots* ``0 .. P-1`` of one packed parameter vector
(one per layer, or one row per channel). The chain rule gives

.. math::
    \partial y/\partial x = a_{in} \sum_t w_t f_t', \quad
    \partial y/\partial w_t = f_t, \quad
    \partial y/\partial \theta_t = w_t\, \partial f_t/\partial\theta_t, \quad
    \partial y/\partial a_{in} = x \sum_t w_t f_t', \quad
    \partial y/\partial b_{in} = \sum_t w_t f_t', \quad
    \partial y/\partial b_{out} = 1.

:meth:`Program.forward_code` and :meth:`Program.backward_code` turn this into
statements of the formula language (see :mod:`adaptact.kernels.formulas`) over
the variables ``x`` (the input), ``th<k>`` (slot ``k``), ``seed`` and ``idx``;
the C and Triton generators print them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from adaptact.kernels.formulas import Formula, Statement

__all__ = ["Term", "Program", "KernelCode"]

_IDENTIFIER = re.compile(r"\b([A-Za-z_]\w*)\b(\()?")
_GLOBAL_NAMES = frozenset({"seed", "idx"})


def merge_common(statements: list[Statement]) -> tuple[Statement, ...]:
    """Compute each distinct right-hand side once: a later identical statement becomes a copy.

    Names are first replaced by their canonical names, so chains of identical
    statements (``e^x`` in two terms, then ``e^x/(1+e^x)`` in both) merge too.
    """
    canonical: dict[str, str] = {}
    seen: dict[str, str] = {}
    out = []
    for name, expr in statements:
        expr = _IDENTIFIER.sub(lambda m: m.group(0) if m.group(2) else canonical.get(m.group(1), m.group(1)), expr)
        if expr in seen:
            canonical[name] = seen[expr]
            out.append((name, seen[expr]))
        else:
            seen[expr] = name
            out.append((name, expr))
    return tuple(out)


@dataclass(frozen=True)
class Term:
    """One summand :math:`w\\,f(z;\\theta)`: the formula, the slot of its weight (or None) and of its parameters."""

    formula: Formula
    weight: Optional[int]
    params: tuple[int, ...]


@dataclass(frozen=True)
class KernelCode:
    """Statements and the names of their results.

    ``output`` names ``y`` (forward) or :math:`\\partial y/\\partial x` (backward);
    :math:`\\partial y/\\partial th_k` is ``scales[k] * grads[k]`` (backward only),
    where ``scales[k]`` (empty for 1) names a value of the parameters alone: a
    kernel may sum ``dy * grads[k]`` over a block and scale the sum once.
    """

    statements: tuple[Statement, ...]
    output: str
    grads: tuple[str, ...] = ()
    scales: tuple[str, ...] = ()

    def full_grad(self, k: int) -> str:
        """:math:`\\partial y/\\partial th_k` as one expression: ``scales[k] * grads[k]``."""
        return f"{self.scales[k]} * {self.grads[k]}" if self.scales and self.scales[k] else self.grads[k]

    def split_invariant(self) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """``(invariant, varying)``: the statements that use only parameters (computed once per
        block, before the element loop) and the rest, each in their original order."""
        invariant: list[Statement] = []
        varying: list[Statement] = []
        known: set[str] = set()
        for name, expr in self.statements:
            words = {m.group(1) for m in _IDENTIFIER.finditer(expr) if not m.group(2)}
            if all(w.startswith("th") and w[2:].isdigit() or w in known for w in words):
                known.add(name)
                invariant.append((name, expr))
            else:
                varying.append((name, expr))
        return tuple(invariant), tuple(varying)


@dataclass(frozen=True)
class Program:
    """:math:`y = \\sum_t w_t f_t(a_{in} x + b_{in}) + b_{out}` over ``num_slots`` packed parameters."""

    terms: tuple[Term, ...]
    num_slots: int
    input_scale: Optional[int] = None
    input_shift: Optional[int] = None
    output_shift: Optional[int] = None

    @property
    def stochastic(self) -> bool:
        return any(t.formula.stochastic for t in self.terms)

    @property
    def key(self) -> str:
        """A name unique to the program's math (used in kernel names and cache keys)."""
        parts = [
            f"{t.formula.name}.{t.weight}.{'-'.join(map(str, t.params))}" for t in self.terms
        ]
        return f"P{self.num_slots}|{self.input_scale}|{self.input_shift}|{self.output_shift}|" + "|".join(parts)

    # ------------------------------------------------------------------ code

    def _input(self) -> list[Statement]:
        z = "x"
        if self.input_scale is not None:
            z = f"th{self.input_scale} * {z}"
        if self.input_shift is not None:
            z = f"{z} + th{self.input_shift}"
        return [("z", z)]

    def _term_code(self, i: int, term: Term, part: str) -> list[Statement]:
        """The formula's statements with its local names prefixed and its parameters bound to slots."""
        f = term.formula
        names = {p: f"th{s}" for p, s in zip(f.params, term.params)}
        local = {name for name, _ in f.value + f.derivative}
        names.update({name: f"t{i}_{name}" for name in local})
        names["x"] = "z"

        def rename(expr: str) -> str:
            def sub(m: re.Match) -> str:
                word, call = m.group(1), m.group(2)
                if call or word in _GLOBAL_NAMES:
                    return m.group(0)
                return names.get(word, word)

            return _IDENTIFIER.sub(sub, expr)

        body = f.value if part == "value" else f.derivative
        return [(names[name], rename(expr)) for name, expr in body]

    def _weighted(self, term: Term, expr: str) -> str:
        return expr if term.weight is None else f"th{term.weight} * {expr}"

    def forward_code(self) -> KernelCode:
        """Statements computing ``y``."""
        out = self._input()
        for i, t in enumerate(self.terms):
            out += self._term_code(i, t, "value")
        y = " + ".join(self._weighted(t, f"t{i}_f") for i, t in enumerate(self.terms))
        if self.output_shift is not None:
            y = f"{y} + th{self.output_shift}"
        out.append(("y", y))
        return KernelCode(merge_common(out), "y")

    def backward_code(self) -> KernelCode:
        """Statements computing ``dy/dx`` (as ``gx``) and every slot's ``dy/dth`` (as ``g<k>``)."""
        out = self._input()
        for i, t in enumerate(self.terms):
            out += self._term_code(i, t, "value") + self._term_code(i, t, "derivative")
        out.append(("gz", " + ".join(self._weighted(t, f"t{i}_dx") for i, t in enumerate(self.terms))))
        grads: dict[int, str] = {}
        scales: dict[int, list[str]] = {}
        for i, t in enumerate(self.terms):
            if t.weight is not None:
                grads[t.weight] = f"t{i}_f"
            local = {name for name, _ in t.formula.derivative}
            for p, s in zip(t.formula.params, t.params):
                grads[s] = f"t{i}_d_{p}"
                scales[s] = ([f"th{t.weight}"] if t.weight is not None else []) + (
                    [f"t{i}_s_{p}"] if f"s_{p}" in local else []
                )
        if self.input_scale is not None:
            grads[self.input_scale] = "gz * x"
            out.append(("gx", f"gz * th{self.input_scale}"))
        else:
            out.append(("gx", "gz"))
        if self.input_shift is not None:
            grads[self.input_shift] = "gz"
        if self.output_shift is not None:
            grads[self.output_shift] = "1.0"
        missing = set(range(self.num_slots)) - set(grads)
        if missing:
            raise ValueError(f"program leaves slots {sorted(missing)} without a gradient")
        out += [(f"g{k}", grads[k]) for k in range(self.num_slots)]
        out += [(f"c{k}", " * ".join(scales[k])) for k in range(self.num_slots) if scales.get(k)]
        names = tuple(f"g{k}" for k in range(self.num_slots))
        factors = tuple(f"c{k}" if scales.get(k) else "" for k in range(self.num_slots))
        return KernelCode(merge_common(out), "gx", names, factors)
