"""Compiled against eager fused, at four sizes, in one process (where the compiled model's extra time goes).

    PYTHONPATH=src python benchmarks/compiled_overhead.py pau,abu,adact out/compiled-overhead.json

For each unit and shape ((4, 64), (128, 256), (64, 64, 16, 16), (64, 64, 32, 32)), 1 thread, glibc's heap
held: ``nn.ReLU``, the eager fused unit and ``torch.compile(unit, fullgraph=True)`` timed forward+backward
in alternated rounds (15 rounds, about 2M elements per round); medians in µs and the median per-round
difference compiled − eager. A difference that does not grow with the size is per-call (the compiled
region's wrappers, the custom ops); one that grows is per element. Also the time spent in the Python C
engine's forward/backward per step on the compiled path and on the Python node (the compiled path's is 0
where its ops run the kernels through the C++ node)."""
import json, statistics, sys, time
import torch, adaptact
from adaptact.kernels import c_engine, native_node
from adaptact import malloc_control

malloc_control.hold_heap()
torch.set_num_threads(1)
native_node.wait()
inside = {"f": 0.0, "b": 0.0}
orig_f, orig_b = c_engine.CEngine.forward, c_engine.CEngine.backward
def f(self, *a):
    t = time.perf_counter(); y = orig_f(self, *a); inside["f"] += time.perf_counter() - t; return y
def b(self, *a):
    t = time.perf_counter(); y = orig_b(self, *a); inside["b"] += time.perf_counter() - t; return y
c_engine.CEngine.forward, c_engine.CEngine.backward = f, b
out = {}
for name in sys.argv[1].split(","):
    for shape in ((4, 64), (128, 256), (64, 64, 16, 16), (64, 64, 32, 32)):
        unit = adaptact.create(name)
        x = torch.randn(*shape, requires_grad=True); dy = torch.randn_like(x)
        comp = torch.compile(unit, fullgraph=True)
        inner = max(1, int(2e6 // x.numel()))
        rounds = 15
        ms = {"relu": torch.nn.ReLU(), "eager": unit, "compiled": comp}
        for m in ms.values():
            for _ in range(3): m(x).backward(dy)
        res = {k: [] for k in ms}
        for _ in range(rounds):
            for k, m in ms.items():
                t0 = time.perf_counter()
                for _ in range(inner): m(x).backward(dy)
                res[k].append((time.perf_counter() - t0) / inner * 1e6)
        # time inside the C engine for the compiled path (eager's C++ node bypasses CEngine)
        inside.update(f=0.0, b=0.0)
        for _ in range(inner * 3): comp(x).backward(dy)
        comp_inside = {k: v / (inner * 3) * 1e6 for k, v in inside.items()}
        native_node.set_enabled(False)
        inside.update(f=0.0, b=0.0)
        for _ in range(inner * 3): unit(x).backward(dy)
        py_inside = {k: v / (inner * 3) * 1e6 for k, v in inside.items()}
        native_node.set_enabled(True)
        med = {k: statistics.median(v) for k, v in res.items()}
        diff = statistics.median([c - e for c, e in zip(res["compiled"], res["eager"])])
        key = f"{name} {shape}"
        out[key] = {"median_us": med, "compiled_minus_eager_us": diff, "engine_us_compiled": comp_inside,
                    "engine_us_python_node": py_inside}
        print(key, json.dumps(out[key]), flush=True)
json.dump(out, open(sys.argv[2], "w"), indent=1)
