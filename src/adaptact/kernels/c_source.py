r"""C source for one :class:`~adaptact.kernels.program.Program`: fused forward and recomputing backward.

Two layouts of the float32 input, both contiguous:

- *rows*: ``rows x L`` where row ``r`` uses the parameters of channel ``r % C``
  (a per-layer unit is one row, ``C = 1``). Each row is cut into chunks of
  ``CHUNK`` elements; a chunk loads its parameters once, runs one SIMD loop,
  sums its parameter gradients in float32 registers and adds them in float64
  to its own slots (one addition per chunk, no atomics), which are added up
  in chunk order after the loop: threads take ``GRAB`` chunks at a time
  (a dynamic schedule, so a descheduled thread does not stall the call) and
  the gradients have the same bits whichever thread took which chunk.
  A program whose formulas have a ``fast`` variant (PAU: direct Horner) runs it
  on the chunk first and keeps it when the chunk's largest ``|x|`` passes the
  formulas' guards; otherwise the chunk is recomputed by the overflow-free form.
- *columns*: ``N x J`` where column ``j`` has its own parameters, stored as a
  ``P x J`` table (per-channel units whose channels hold few elements, e.g.
  ``(N, features)``). Gradients accumulate per thread in float32 column sums
  flushed to float64 every ``FLUSH`` rows.

Exported functions (all work is split over ``nthreads`` OpenMP threads):

.. code-block:: c

    void fwd_rows(const float *x, float *y, const float *theta, int64_t rows, int64_t L, int64_t C,
                  uint64_t seed, int nthreads);
    void bwd_rows(const float *x, const float *dy, const float *theta, float *dx /* or NULL */,
                  double *dtheta /* C x P, zeroed, or NULL */, int64_t rows, int64_t L, int64_t C,
                  uint64_t seed, int nthreads);
    void fwd_cols(const float *x, float *y, const float *table, int64_t N, int64_t J, uint64_t seed, int nthreads);
    void bwd_cols(const float *x, const float *dy, const float *table, float *dx, double *dtable,
                  int64_t N, int64_t J, uint64_t seed, int nthreads);

``idx`` (the element's flat index) and ``seed`` feed ``uniform`` in stochastic programs.
"""
from __future__ import annotations

import dataclasses
import re
from importlib import resources
from typing import Optional

from adaptact.kernels.program import KernelCode, Program, Term

__all__ = ["c_source", "CHUNK"]

#: elements per chunk of a row (a unit of work and of gradient reduction)
CHUNK = 4096
#: float32 partial sums per parameter slot in a chunk (one AVX-512 register, two AVX2 ones)
LANES = 16
#: rows between flushes of the float32 column sums
FLUSH = 128
#: below this many elements a call runs on one thread
PARALLEL_MIN = 32768
#: chunks a thread takes at a time under the dynamic schedule of the row layout
GRAB = 4

_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?)")
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\(")


def c_expression(expr: str) -> str:
    """A formula-language expression in C: float literals get ``f``, functions the ``f_`` prefix."""
    return _CALL.sub(r"f_\1(", _FLOAT.sub(r"\1f", expr))


def _statements(statements: tuple, indent: str) -> str:
    return "\n".join(f"{indent}const float {name} = {c_expression(expr)};" for name, expr in statements)


def _slots(program: Program, source: str, indent: str) -> str:
    """Load every slot: ``source`` is a C format with ``{k}`` for the slot index."""
    return "\n".join(f"{indent}const float th{k} = {source.format(k=k)};" for k in range(program.num_slots))


def _row_body(code: KernelCode, varying: tuple, i: str, dx: bool, sums: list[str], lane: str, indent: str) -> list[str]:
    """The statements for element ``i`` of a chunk; parameter terms are added to ``sums[k][lane]``."""
    lines = [f"{indent}const float x = xs[{i}];"]
    if code.grads:
        lines.append(f"{indent}const float dy = dys[{i}];")
    lines.append(f"{indent}const int64_t idx = base + {i}; (void)idx; (void)seed;")
    lines.append(_statements(varying, indent))
    if not code.grads:
        lines.append(f"{indent}ys[{i}] = {code.output};")
    if dx:
        lines.append(f"{indent}dxs[{i}] = dy * {code.output};")
    lines += [f"{indent}{s}[{lane}] += dy * {g};" for s, g in zip(sums, code.grads)]
    return lines


def _row_args(code: KernelCode) -> str:
    if code.grads:
        return ("const float *restrict xs, const float *restrict dys, const float *restrict th, "
                "float *restrict dxs, int64_t n, int64_t base, uint64_t seed, double *restrict acc")
    return "const float *restrict xs, float *restrict ys, const float *restrict th, int64_t n, int64_t base, uint64_t seed"


def _row_loops(
    program: Program, code: KernelCode, dx: bool, grads: bool, track_max: bool
) -> tuple[list[str], list[str]]:
    """``(loops, flush)``: the chunk's element loops (at 4-space indent), and the addition of the
    gradient sums to ``acc``. With ``track_max``, the loops also leave the chunk's largest
    :math:`|x|` in ``xmax`` (NaN ignored)."""
    invariant, varying = code.split_invariant()
    lines = [_statements(invariant, "    ")]
    track = "{ const float ax_ = fabsf(x); %s = ax_ > %s ? ax_ : %s; }"
    if not grads:
        if track_max:
            lines += ["    float xmax = 0.0f;", "    #pragma omp simd reduction(max:xmax)"]
        else:
            lines.append("    #pragma omp simd")
        lines.append("    for (int64_t i = 0; i < n; ++i) {")
        lines += _row_body(code, varying, "i", dx, [], "", "        ")
        if track_max:
            lines.append("        " + track % ("xmax", "xmax", "xmax"))
        lines.append("    }")
        return lines, []
    sums = [f"lane{k}" for k in range(program.num_slots)]
    lines += [f"    float {s}[LANES] = {{0.0f}};" for s in sums]
    if track_max:
        lines.append("    float lmax[LANES] = {0.0f};")
    lines += ["    int64_t i0 = 0;", "    for (; i0 + LANES <= n; i0 += LANES) {",
              "        #pragma omp simd", "        for (int l = 0; l < LANES; ++l) {",
              "            const int64_t i = i0 + l;"]
    lines += _row_body(code, varying, "i", dx, sums, "l", "            ")
    if track_max:
        lines.append("            " + track % ("lmax[l]", "lmax[l]", "lmax[l]"))
    lines += ["        }", "    }", "    for (int64_t i = i0; i < n; ++i) {"]
    lines += _row_body(code, varying, "i", dx, sums, "0", "        ")
    if track_max:
        lines.append("        " + track % ("lmax[0]", "lmax[0]", "lmax[0]"))
    lines.append("    }")
    if track_max:
        lines.append("    float xmax = 0.0f;")
        lines.append("    for (int l = 0; l < LANES; ++l) xmax = lmax[l] > xmax ? lmax[l] : xmax;")
    flush = []
    for k, s in enumerate(sums):
        scaled = f"t * (double){code.scales[k]}" if code.scales[k] else "t"
        flush.append(f"    {{ double t = 0.0; for (int l = 0; l < LANES; ++l) t += {s}[l]; acc[{k}] += {scaled}; }}")
    return lines, flush


def _row_chunk(program: Program, name: str, backward: bool, dx: bool, grads: bool) -> str:
    """One chunk of a row: a SIMD loop with the parameters (and what depends on them only) in registers.

    Parameter gradients are summed in ``LANES`` float32 partial sums per slot (a
    fixed-width inner loop that the compiler maps onto vector registers),
    added up in float64 at the end of the chunk and multiplied there by the
    slot's parameter-only scale.

    With a :func:`fast_variant`, the chunk runs the fast program first, tracking its largest
    :math:`|x|`; when that passes every guard its results stand, else the chunk is computed
    again by the (overflow-free) program and the fast results are overwritten and discarded.
    """
    code = program.backward_code() if backward else program.forward_code()
    lines = [f"static void {name}({_row_args(code)}) {{", _slots(program, "th[{k}]", "    ")]
    variant = fast_variant(program)
    if variant is not None:
        fast, guards = variant
        fast_code = fast.backward_code() if backward else fast.forward_code()
        loops, flush = _row_loops(fast, fast_code, dx, grads, track_max=True)
        lines += ["    {"] + loops + ["    int ok = 1;"]
        for g in guards:
            gcode = g.forward_code()
            lines += ["    {", "        const float x = xmax;", _statements(gcode.statements, "        "),
                      f"        ok = ok && {gcode.output} > 0.0f;", "    }"]
        lines += ["    if (ok) {"] + flush + ["        return;", "    }", "    }"]
    loops, flush = _row_loops(program, code, dx, grads, track_max=False)
    lines += loops + flush + ["}"]
    return "\n".join(lines)


def _col_row(program: Program, name: str, code: KernelCode, dx: bool, grads: bool) -> str:
    """One row of the column layout: a SIMD loop over columns, parameters loaded per column."""
    if code.grads:
        args = ("const float *restrict xs, const float *restrict dys, const float *restrict tab, "
                "float *restrict dxs, float *restrict acc, int64_t J, int64_t base, uint64_t seed")
    else:
        args = "const float *restrict xs, float *restrict ys, const float *restrict tab, int64_t J, int64_t base, uint64_t seed"
    lines = [f"static void {name}({args}) {{", "    #pragma omp simd", "    for (int64_t j = 0; j < J; ++j) {"]
    lines.append(_slots(program, "tab[{k} * J + j]", "        "))
    lines.append("        const float x = xs[j];")
    if code.grads:
        lines.append("        const float dy = dys[j];")
    lines.append("        const int64_t idx = base + j; (void)idx; (void)seed;")
    lines.append(_statements(code.statements, "        "))
    if not code.grads:
        lines.append(f"        ys[j] = {code.output};")
    if dx:
        lines.append(f"        dxs[j] = dy * {code.output};")
    lines += [f"        acc[{k} * J + j] += dy * ({code.full_grad(k)});" for k in range(len(code.grads)) if grads]
    lines += ["    }", "}"]
    return "\n".join(lines)


_DRIVERS = r"""
void fwd_rows(const float *xs, float *ys, const float *theta, int64_t rows, int64_t L, int64_t C,
              uint64_t seed, int nthreads) {
    const int64_t chunks = (L + CHUNK - 1) / CHUNK, items = rows * chunks;
    /* dynamic: a thread that was descheduled leaves its chunks to the others instead of stalling the call */
    #pragma omp parallel for num_threads(nthreads) schedule(dynamic, GRAB) if (rows * L >= PARALLEL_MIN)
    for (int64_t it = 0; it < items; ++it) {
        const int64_t r = it / chunks, k = it - r * chunks, start = r * L + k * CHUNK;
        const int64_t n = L - k * CHUNK < CHUNK ? L - k * CHUNK : CHUNK;
        row_forward(xs + start, ys + start, theta + (r % C) * NSLOT, n, start, seed);
    }
}

static void bwd_item(const float *xs, const float *dys, const float *theta, float *dxs, double *acc,
                     int64_t it, int64_t chunks, int64_t L, int64_t C, uint64_t seed) {
    const int64_t r = it / chunks, k = it - r * chunks, start = r * L + k * CHUNK;
    const int64_t n = L - k * CHUNK < CHUNK ? L - k * CHUNK : CHUNK;
    const float *th = theta + (r % C) * NSLOT;
    if (!acc) row_backward_input(xs + start, dys + start, th, dxs + start, n, start, seed, NULL);
    else if (!dxs) row_backward_params(xs + start, dys + start, th, NULL, n, start, seed, acc);
    else row_backward(xs + start, dys + start, th, dxs + start, n, start, seed, acc);
}

void bwd_rows(const float *xs, const float *dys, const float *theta, float *dxs, double *dtheta,
              int64_t rows, int64_t L, int64_t C, uint64_t seed, int nthreads) {
    const int64_t chunks = (L + CHUNK - 1) / CHUNK, items = rows * chunks;
    /* with several threads each item sums into its own slots, added in item order afterwards: the same
       gradient bits whichever thread took which item (so backward can use forward's dynamic schedule) */
    const int wide = nthreads > 1 && rows * L >= PARALLEL_MIN;
    double *part = dtheta && wide ? (double *)calloc((size_t)(items * NSLOT), sizeof(double)) : NULL;
    const int parallel = wide && (part || !dtheta);  /* a failed calloc: one thread, summing into dtheta */
    #pragma omp parallel for num_threads(nthreads) schedule(dynamic, GRAB) if (parallel)
    for (int64_t it = 0; it < items; ++it) {
        double *acc = part ? part + it * NSLOT : dtheta ? dtheta + ((it / chunks) % C) * NSLOT : NULL;
        bwd_item(xs, dys, theta, dxs, acc, it, chunks, L, C, seed);
    }
    if (part) {
        for (int64_t it = 0; it < items; ++it) {
            double *to = dtheta + ((it / chunks) % C) * NSLOT;
            for (int64_t j = 0; j < NSLOT; ++j) to[j] += part[it * NSLOT + j];
        }
        free(part);
    }
}

void fwd_cols(const float *xs, float *ys, const float *tab, int64_t N, int64_t J, uint64_t seed, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static) if (N * J >= PARALLEL_MIN)
    for (int64_t r = 0; r < N; ++r) col_forward(xs + r * J, ys + r * J, tab, J, r * J, seed);
}

void bwd_cols(const float *xs, const float *dys, const float *tab, float *dxs, double *dtab,
              int64_t N, int64_t J, uint64_t seed, int nthreads) {
    #pragma omp parallel num_threads(nthreads) if (N * J >= PARALLEL_MIN)
    {
        float *acc = dtab ? (float *)calloc((size_t)(J * NSLOT), sizeof(float)) : NULL;
        double *total = dtab ? (double *)calloc((size_t)(J * NSLOT), sizeof(double)) : NULL;
        int64_t pending = 0;
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < N; ++r) {
            const int64_t o = r * J;
            if (!acc) col_backward_input(xs + o, dys + o, tab, dxs + o, NULL, J, o, seed);
            else if (!dxs) col_backward_params(xs + o, dys + o, tab, NULL, acc, J, o, seed);
            else col_backward(xs + o, dys + o, tab, dxs + o, acc, J, o, seed);
            if (acc && ++pending == FLUSH) {
                for (int64_t j = 0; j < J * NSLOT; ++j) { total[j] += acc[j]; acc[j] = 0.0f; }
                pending = 0;
            }
        }
        if (acc) {
            #pragma omp critical
            for (int64_t j = 0; j < J * NSLOT; ++j) dtab[j] += total[j] + acc[j];
            free(acc);
            free(total);
        }
    }
}
"""


def fast_variant(program: Program) -> Optional[tuple[Program, tuple[Program, ...]]]:
    """``(fast program, guard programs)`` when every term has a ``fast`` formula and the input is ``x`` itself.

    Each guard program computes, at ``x`` = the block's largest :math:`|x|`, a value that is
    positive when its term's fast formula is safe on the whole block.
    """
    terms = program.terms
    if program.input_scale is not None or program.input_shift is not None:
        return None
    if not terms or any(t.formula.fast is None or t.formula.fast_guard is None for t in terms):
        return None
    fast = dataclasses.replace(program, terms=tuple(dataclasses.replace(t, formula=t.formula.fast) for t in terms))
    guards = tuple(Program((Term(t.formula.fast_guard, None, t.params),), program.num_slots) for t in terms)
    return fast, guards


def c_source(program: Program) -> str:
    """The complete C translation unit of ``program`` (includes ``cmath.h``'s text)."""
    prelude = resources.files("adaptact.kernels").joinpath("cmath.h").read_text()
    fwd, bwd = program.forward_code(), program.backward_code()
    parts = [
        f"/* adaptact fused kernels for the program {program.key} */",
        prelude,
        f"#define NSLOT {program.num_slots}\n#define CHUNK {CHUNK}\n#define FLUSH {FLUSH}\n#define LANES {LANES}\n"
        f"#define PARALLEL_MIN {PARALLEL_MIN}\n#define GRAB {GRAB}",
        _row_chunk(program, "row_forward", backward=False, dx=False, grads=False),
        _row_chunk(program, "row_backward", backward=True, dx=True, grads=True),
        _row_chunk(program, "row_backward_input", backward=True, dx=True, grads=False),
        _row_chunk(program, "row_backward_params", backward=True, dx=False, grads=True),
        _col_row(program, "col_forward", fwd, dx=False, grads=False),
        _col_row(program, "col_backward", bwd, dx=True, grads=True),
        _col_row(program, "col_backward_input", bwd, dx=True, grads=False),
        _col_row(program, "col_backward_params", bwd, dx=False, grads=True),
        _DRIVERS,
    ]
    return "\n\n".join(parts) + "\n"
