"""The issue-14 target table (markdown) from a JSON record of ``benchmarks/units.py``: each unit's forward+backward
ratio to ReLU with its interquartile range, per thread count, against its target.

    python benchmarks/targets_table.py benchmarks/results/bench-targets-5.json

A row's verdict is "met" when the median ratio is at or below the target, "not met" when the whole
interquartile range is above it, and "within noise" otherwise.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

#: unit -> (target ratio to ReLU, how the target is stated); RPAU's target is relative to PAU
TARGETS = {
    "pau": (1.2, "≤ 1.2"), "scaled_relu": (1.1, "≤ 1.1"), "arelu": (1.25, "≤ 1.25"), "swish_beta": (1.3, "≤ 1.3"),
    "abu": (2.0, "≤ 2.0"), "agumbel": (2.3, "≤ 2.3"), "adact": (2.3, "≤ 2.3"), "rpau": (1.5, "≤ 1.5 × PAU"),
    "metaneuron": (6.0, "≤ 6"), "vaf": (6.0, "≤ 6"), "apl": (1.5, "≤ 1.5"), "srelu": (1.5, "≤ 1.5"),
}


def verdict(ratio: float, iqr: tuple[float, float], target: float) -> str:
    if ratio <= target:
        return "met"
    return "not met" if iqr[0] > target else "within noise"


def table(record: dict) -> str:
    rows = [r for r in record["units"] if r["backend"] != "reference"]
    threads = sorted({r["threads"] for r in rows})
    by = {(r["name"], r["threads"]): r for r in rows}
    head = "| unit | target | " + " | ".join(f"{t} thr ×ReLU [IQR]" for t in threads) + " | verdict |"
    lines = [head, "|" + "---|" * (3 + len(threads))]
    relu = " | ".join(f"*{by[('relu', t)]['forward_backward_ms']:.2f} ms*" if ("relu", t) in by else "" for t in threads)
    lines.append(f"| *ReLU fwd+bwd* | | {relu} | |")
    for name, (target, stated) in TARGETS.items():
        cells, verdicts = [], []
        for t in threads:
            r = by.get((name, t))
            if r is None:
                cells.append("–")
                continue
            ratio, (lo, hi) = r["forward_backward_ratio"], r["forward_backward_ratio_iqr"]
            if name == "rpau" and ("pau", t) in by:  # relative to PAU measured in the same run
                pau = by[("pau", t)]["forward_backward_ratio"]
                ratio, lo, hi = ratio / pau, lo / pau, hi / pau
                cells.append(f"{ratio:.2f}× PAU [{lo:.2f}, {hi:.2f}]")
            else:
                cells.append(f"{ratio:.2f} [{lo:.2f}, {hi:.2f}]")
            verdicts.append(verdict(ratio, (lo, hi), target))
        if verdicts:
            overall = verdicts[0] if len(set(verdicts)) == 1 else ", ".join(f"{t} thr: {v}" for t, v in zip(threads, verdicts))
            lines.append(f"| {name} | {stated} | " + " | ".join(cells) + f" | {overall} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("record", type=Path)
    print(table(json.loads(p.parse_args().record.read_text())))


if __name__ == "__main__":
    main()
