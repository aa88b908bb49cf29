"""Regenerate src/adaptact/tables/pau_init.json: PAU initial coefficients fitted by adaptact.fit.

    python scripts/make_init_tables.py            # every fixed activation, the degrees and forms of adaptact.fit

Every entry is fitted anew (no cache); the file is replaced atomically.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
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
    fd, tmp = tempfile.mkstemp(dir=OUT.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({len(table['entries'])} entries)")


if __name__ == "__main__":
    main()
