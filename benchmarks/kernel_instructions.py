"""Instructions per element of the fused C kernels, counted by valgrind's callgrind (repeatable on a loaded machine).

    PYTHONPATH=src python benchmarks/kernel_instructions.py [--units pau,abu] [--n 262144] [--range 3.0]

For each unit, the program its fused call lowers to (captured from a real call
of the unit's module) is printed to C with :func:`adaptact.kernels.c_source.c_source`
and linked into a small harness that runs ``fwd_rows`` and ``bwd_rows`` once,
on one thread, over ``n`` elements uniform in ``[-range, range]``. The harness
is compiled for AVX2 + FMA (``-march=x86-64-v3``: valgrind does not decode
AVX-512), with the kernels' other flags; callgrind's inclusive instruction
counts of the two calls, divided by ``n``, are printed as a table.
Needs gcc and valgrind.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import torch

import adaptact as aa
from adaptact import kernels
from adaptact.kernels import c_engine

UNITS = ("pau", "pau_b", "rpau", "agumbel", "arelu", "abu", "adact", "swish_beta", "apl", "srelu")

_HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
void fwd_rows(const float *, float *, const float *, int64_t, int64_t, int64_t, uint64_t, int);
void bwd_rows(const float *, const float *, const float *, float *, double *, int64_t, int64_t, int64_t,
              uint64_t, int);
int main(int argc, char **argv) {
    const int64_t n = atoll(argv[1]);
    const float range = (float)atof(argv[2]);
    const int P = argc - 3;
    float *theta = malloc(sizeof(float) * P);
    for (int k = 0; k < P; ++k) theta[k] = (float)atof(argv[3 + k]);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    float *dy = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
    double *dtheta = calloc(P, sizeof(double));
    uint32_t s = 12345u;
    for (int64_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        x[i] = range * (2.0f * (float)(s >> 8) / 16777216.0f - 1.0f);
        dy[i] = 1.0f;
    }
    fwd_rows(x, y, theta, 1, n, 1, 7u, 1);
    bwd_rows(x, dy, theta, dx, dtheta, 1, n, 1, 7u, 1);
    double c = 0.0;
    for (int64_t i = 0; i < n; ++i) c += y[i] + dx[i];
    for (int k = 0; k < P; ++k) c += dtheta[k];
    printf("%g\n", c);
    return 0;
}
"""


def _unit(name: str) -> torch.nn.Module:
    if name == "pau_b":
        return aa.create("pau", form="B")
    return aa.create(name)


def capture(name: str) -> tuple:
    """``(program, theta)`` of the unit's fused forward on a small input (training mode)."""
    if name == "rpau":  # lowered directly: its family may not be registered with the dispatcher
        from adaptact.kernels.lowering import lower_rpau_training

        unit = aa.create("rpau")
        lowered = lower_rpau_training(torch.zeros(1), unit.numerator, unit.denominator, unit.delta, unit.form)
        return lowered.program, lowered.theta.detach().clone()
    seen = []
    original = c_engine.CEngine.forward

    def spy(self, program, x, theta, seed):
        seen.append((program, theta.detach().clone()))
        return original(self, program, x, theta, seed)

    c_engine.CEngine.forward = spy
    try:
        with kernels.use("c"):
            _unit(name).train()(torch.randn(4, 64))
    finally:
        c_engine.CEngine.forward = original
    if not seen:
        raise RuntimeError(f"{name}: no fused C call was made")
    return seen[0]


def count(name: str, n: int, value_range: float, workdir: str) -> tuple[float, float]:
    program, theta = capture(name)
    src = os.path.join(workdir, f"{name}.c")
    with open(src, "w") as f:
        f.write(c_engine.c_source(program) + _HARNESS)
    exe = os.path.join(workdir, name)
    subprocess.run(["gcc", "-O3", "-march=x86-64-v3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math",
                    "-o", exe, src, "-lm"], check=True)
    out = os.path.join(workdir, f"{name}.cg")
    args = [str(n), str(value_range)] + [repr(float(v)) for v in theta.reshape(-1)]
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", exe, *args],
                   check=True, capture_output=True)
    report = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], check=True, capture_output=True,
                            text=True).stdout
    counts = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d,]+)\s.*\b(fwd_rows|bwd_rows)\b", line)
        if m and m.group(2) not in counts:
            counts[m.group(2)] = int(m.group(1).replace(",", ""))
    return counts["fwd_rows"] / n, counts["bwd_rows"] / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default=",".join(UNITS))
    parser.add_argument("--n", type=int, default=1 << 18)
    parser.add_argument("--range", type=float, default=3.0)
    args = parser.parse_args(argv)
    names = args.units.split(",")
    width = max(12, *map(len, names))
    with tempfile.TemporaryDirectory() as workdir:
        print(f"{'unit':<{width}} {'fwd instr/elem':>15} {'bwd instr/elem':>15}")
        for name in names:
            fwd, bwd = count(name, args.n, args.range, workdir)
            print(f"{name:<{width}} {fwd:>15.2f} {bwd:>15.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
