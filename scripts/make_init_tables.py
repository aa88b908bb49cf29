"""Regenerate src/adaptact/tables/pau_init.json: PAU initial coefficients fitted by adaptact.fit.

    python scripts/make_init_tables.py            # all targets, degrees and forms of adaptact.fit
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

import numpy
import scipy
import torch

from adaptact import fit

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "adaptact" / "tables" / fit.TABLE_FILE


def main() -> None:
    start = time.time()
    table = fit.build_table(progress=lambda line: print(line, flush=True))
    table["generated_with"] = {
        "torch": torch.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
        "python": sys.version.split()[0], "seconds": round(time.time() - start, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {OUT} ({len(table['entries'])} entries)")


if __name__ == "__main__":
    main()
