"""Time PAU fits (``adaptact.fit.fit_pau``) for degrees (m, n), m, n in 1..8, both forms: cold and warm.

    python benchmarks/fit_times.py                          # lrelu and gelu, writes benchmarks/results/fit-times.json
    python benchmarks/fit_times.py --targets lrelu,gelu,elu,tanh --max-degree 8 --repeats 3

For every (target, m, n, form):

- ``cold``: an empty cache (memory and disk): the fit itself, plus writing its cache file;
  the minimum over ``--repeats`` fits (the machine may be shared: the minimum is the least disturbed);
- ``warm_memory``: the same call again (kept in this process);
- ``warm_disk``: after forgetting the in-memory fits (read back from the file and checked).

Each is measured as wall-clock seconds (``time.perf_counter``) and as this process's CPU seconds
(``time.process_time``). Also measured: a whole fresh process (``python -c``: the seconds to import adaptact, then
for a first fit, (8, 8) form B, which includes importing scipy). The cache lives in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "fit-times.json"


def timed(fn) -> tuple[float, float, object]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def fresh_process_seconds(target: str) -> dict:
    """A new process: seconds to import adaptact, then for its first fit ((8, 8), form B; scipy is imported then)."""
    code = ("import time; t = time.perf_counter(); import adaptact.fit as f; u = time.perf_counter(); "
            f"f.fit_pau({target!r}, (8, 8), 'B', cache=False); print(u - t, time.perf_counter() - u)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    imp, first = map(float, out.stdout.strip().splitlines()[-1].split())
    return {"import_adaptact_s": imp, "first_fit_8_8_B_s": first}


def summary(rows: list[dict], key: str) -> dict:
    vals = sorted(r[key] for r in rows)
    return {"max": vals[-1], "median": statistics.median(vals), "p95": vals[int(0.95 * (len(vals) - 1))],
            "worst": max(rows, key=lambda r: r[key])["case"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="lrelu,gelu", help="comma-separated fixed activation names")
    p.add_argument("--max-degree", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="cold fits per case (the minimum is kept)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    os.environ["ADAPTACT_CACHE"] = tempfile.mkdtemp(prefix="adaptact-fit-bench-")
    from adaptact import bench, fit

    fit.fit_pau("relu", (2, 2), "A", cache=False)  # imports scipy: not part of any fit's time
    rows = []
    for target in args.targets.split(","):
        for m in range(1, args.max_degree + 1):
            for n in range(1, args.max_degree + 1):
                for form in ("A", "B"):
                    cold = []
                    for _ in range(args.repeats):
                        fit.clear_fit_cache(disk=True)
                        cold.append(timed(lambda: fit.fit_pau(target, (m, n), form)))
                    wall, r = min(t[0] for t in cold), cold[-1][2]
                    mem = timed(lambda: fit.fit_pau(target, (m, n), form))
                    fit.clear_fit_cache()
                    disk = timed(lambda: fit.fit_pau(target, (m, n), form))
                    assert mem[2] is r and disk[2] == r and all(t[2] == r for t in cold)  # deterministic
                    rows.append({"case": f"{target} ({m},{n}) {form}", "target": target, "degrees": [m, n],
                                 "form": form, "cold_s": wall, "cold_cpu_s": min(c for _, c, _ in cold),
                                 "warm_memory_s": mem[0], "warm_disk_s": disk[0], "max_error": r.max_error})
                    print(f"{target:8s} ({m},{n}) {form}: cold {wall:6.3f} s (cpu {rows[-1]['cold_cpu_s']:.3f}), "
                          f"warm {mem[0] * 1e3:6.3f} ms memory, {disk[0] * 1e3:6.2f} ms disk, "
                          f"max error {r.max_error:.1e}", flush=True)
    fresh = fresh_process_seconds(args.targets.split(",")[0])
    result = {
        "environment": bench.environment(),
        "command": " ".join(["benchmarks/fit_times.py"] + (argv if argv is not None else sys.argv[1:])),
        "grid": {"interval": list(fit.DEFAULT_INTERVAL), "points": fit.DEFAULT_POINTS},
        "fit_version": fit.FIT_VERSION,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "summary": {
            "cold_s": {form: summary([r for r in rows if r["form"] == form], "cold_s") for form in ("A", "B")},
            "cold_cpu_s": {form: summary([r for r in rows if r["form"] == form], "cold_cpu_s") for form in ("A", "B")},
            "warm_memory_s": summary(rows, "warm_memory_s"),
            "warm_disk_s": summary(rows, "warm_disk_s"),
            "fresh_process": fresh,
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    s = result["summary"]
    print(f"cold, wall: max {s['cold_s']['A']['max']:.3f} s (A), {s['cold_s']['B']['max']:.3f} s (B); "
          f"cpu: max {s['cold_cpu_s']['A']['max']:.3f} s (A), {s['cold_cpu_s']['B']['max']:.3f} s (B); "
          f"warm: max {s['warm_memory_s']['max'] * 1e3:.2f} ms memory, {s['warm_disk_s']['max'] * 1e3:.1f} ms disk; "
          f"fresh process: import {fresh['import_adaptact_s']:.2f} s, first fit (8,8) B {fresh['first_fit_8_8_B_s']:.2f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
