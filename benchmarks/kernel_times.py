"""Time of the fused C kernels alone, forward + backward, in thread CPU time (readable on a loaded machine).

    PYTHONPATH=src python benchmarks/kernel_times.py [--units pau,abu,adact] [--n 32768] [--runs 3]

For each unit, the program its fused call lowers to (captured from a real call of the unit's module, as in
``kernel_instructions.py``) is printed to C and linked into a harness that calls ``fwd_rows`` then
``bwd_rows`` on one thread over ``n`` elements uniform in [-3, 3], built with the kernels' own flags
(``-O3 -march=native``: AVX-512 where the CPU has it). The harness reports the smallest thread CPU time
(``CLOCK_THREAD_CPUTIME_ID``: time the process was descheduled does not count) over 9 rounds of enough calls
for about 0.2 s; ``--runs`` repeats that in fresh processes. A line gives ns per element and µs per call
of ``n`` elements: the arithmetic a unit's call costs before any per-call overhead, which bounds what the
per-call target (``benchmarks/overhead.py``) can reach at that size.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kernel_instructions import capture  # noqa: E402  (the sibling script)

from adaptact.kernels import c_engine  # noqa: E402

_HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void fwd_rows(const float *, float *, const float *, int64_t, int64_t, int64_t, uint64_t, int);
void bwd_rows(const float *, const float *, const float *, float *, double *, int64_t, int64_t, int64_t,
              uint64_t, int);
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
int main(int argc, char **argv) {
    const int64_t n = atoll(argv[1]);
    const int P = argc - 2;
    float *theta = malloc(sizeof(float) * (P > 0 ? P : 1));
    for (int k = 0; k < P; ++k) theta[k] = (float)atof(argv[2 + k]);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    float *dy = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
    double *dtheta = calloc(P > 0 ? P : 1, sizeof(double));
    uint32_t s = 12345u;
    for (int64_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        x[i] = 3.0f * (2.0f * (float)(s >> 8) / 16777216.0f - 1.0f);
        dy[i] = 1.0f;
    }
    const int reps = (int)(2e7 / (double)n) + 1;  /* about 0.2 s per round for a 10 ns/element unit */
    double best = 1e30;
    for (int round = 0; round < 9; ++round) {
        const double t0 = cpu_now();
        for (int r = 0; r < reps; ++r) {
            fwd_rows(x, y, theta, 1, n, 1, 7u, 1);
            bwd_rows(x, dy, theta, dx, dtheta, 1, n, 1, 7u, 1);
        }
        const double t = (cpu_now() - t0) / reps;
        if (t < best) best = t;
    }
    double c = 0.0;
    for (int64_t i = 0; i < n; ++i) c += y[i] + dx[i];
    printf("%.6e %g\n", best, c);
    return 0;
}
"""


def build(name: str, workdir: str) -> tuple[str, list[str]]:
    """The harness executable of ``name`` and its parameter arguments."""
    program, theta = capture(name)
    src = os.path.join(workdir, f"{name}.c")
    with open(src, "w") as f:
        f.write(c_engine.c_source(program) + _HARNESS)
    exe = os.path.join(workdir, name)
    subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-o", exe,
                    src, "-lm"], check=True)
    return exe, [repr(float(v)) for v in theta.reshape(-1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="scaled_relu,pau,abu,agumbel,adact")
    parser.add_argument("--n", type=int, default=32768)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    results = {"n": args.n, "ns_per_element": {}}
    names = args.units.split(",")
    width = max(12, *map(len, names))
    print(f"{'unit':<{width}} {'ns/element (runs)':>28} {'µs per call':>12}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            exe, params = build(name, workdir)
            seconds = [float(subprocess.run([exe, str(args.n), *params], check=True, capture_output=True,
                                            text=True).stdout.split()[0]) for _ in range(args.runs)]
            results["ns_per_element"][name] = [1e9 * s / args.n for s in seconds]
            per_element = ", ".join(f"{1e9 * s / args.n:.3f}" for s in seconds)
            print(f"{name:<{width}} {per_element:>28} {1e6 * min(seconds):>12.1f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
