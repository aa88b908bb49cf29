"""Benchmark of the trainable units against native ReLU, SiLU and Mish, in one process.

    python benchmarks/units.py --out out/bench.json          # every trainable unit, both shapes, networks
    python benchmarks/units.py --quick                        # the target units at (64, 64, 32, 32)
    adaptact bench ...                                        # the same

See :mod:`adaptact.bench` for what is measured and docs/performance.md for results.
"""
import sys

from adaptact.bench import main

if __name__ == "__main__":
    sys.exit(main())
