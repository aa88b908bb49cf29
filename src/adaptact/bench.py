"""Benchmark of the trainable units against native activations: time, memory saved for backward, training steps.

For each unit (every trainable name by default) and each kernel backend
(``reference`` and the fused path ``auto`` picks), in the same process as the
native ``nn.ReLU``, ``nn.SiLU`` and ``nn.Mish``:

- the median forward time and forward+backward time (gradients of the input
  and of every parameter, by ``torch.autograd.grad``) over ``repeats`` runs
  after ``warmup`` runs, at each shape;
- each time as a ratio to ReLU: the unit and ReLU are timed in alternation, and
  the ratio is the median of the per-round ratios, so that a load change on a
  shared machine hits both; the interquartile range of those ratios is the
  spread every figure carries;
- the minor page faults per timed call (0 when the allocator serves every
  buffer from memory already faulted in: :func:`adaptact.malloc_control.hold_heap`
  is applied first unless ``--malloc default``);
- at each thread count asked (default 1 and 2);
- the bytes autograd saves for backward, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` (a tensor saved twice counts once);
- the training step time (forward, loss, backward, SGD step) of LeNet and
  VGG-8 with each unit, as a ratio to the same network with ReLU.

``python benchmarks/units.py`` and ``adaptact bench`` run :func:`main`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

import adaptact as aa
from adaptact import argcheck, kernels
from adaptact.malloc_control import faults, hold_heap
from adaptact.kernels import native_node

__all__ = ["UnitResult", "NetworkResult", "bench_units", "bench_networks", "environment", "main"]

NATIVE = {"relu": nn.ReLU, "silu": nn.SiLU, "mish": nn.Mish}
#: the units the performance targets name (benchmarked in the quick profile and at network level)
TARGET_UNITS = ("pau", "abu", "scaled_relu", "agumbel", "arelu", "adact")
SHAPES = ((64, 64, 32, 32), (4096, 1024))
QUICK_SHAPES = ((64, 64, 32, 32),)
#: network, batch, build options (VGG-8 at a quarter of the width keeps a CPU run short)
NETWORKS = (("lenet", 128, {}), ("vgg8", 64, {"width_divisor": 4}))


@dataclass
class UnitResult:
    """One unit (or native activation) at one shape, dtype and backend."""

    name: str
    backend: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    forward_ms: float
    forward_backward_ms: float
    forward_ratio: float
    forward_backward_ratio: float
    saved_bytes: int
    saved_ratio_to_input: float
    forward_gbps: float
    backward_gbps: float
    threads: int = 1
    #: interquartile range of the per-round ratios to ReLU
    forward_ratio_iqr: tuple[float, float] = (float("nan"), float("nan"))
    forward_backward_ratio_iqr: tuple[float, float] = (float("nan"), float("nan"))
    #: minor page faults per timed forward+backward call of the unit and of ReLU
    faults_per_call: float = float("nan")
    relu_faults_per_call: float = float("nan")


@dataclass
class NetworkResult:
    """Training step of one network with one unit, against the same network with ReLU."""

    network: str
    unit: str
    backend: str
    batch: int
    options: dict
    step_ms: float
    relu_step_ms: float
    ratio: float
    threads: int = 1
    ratio_iqr: tuple[float, float] = (float("nan"), float("nan"))


@dataclass
class Paired:
    """Two callables timed in alternation: medians, the median per-round ratio and its spread, page faults."""

    baseline_s: float
    candidate_s: float
    ratio: float
    ratio_iqr: tuple[float, float]
    baseline_faults: float
    candidate_faults: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired_times(
    baseline: Callable[[], object], candidate: Callable[[], object], warmup: int, repeats: int, device: torch.device
) -> Paired:
    """Time ``baseline`` and ``candidate`` in alternation, ``repeats`` rounds after ``warmup``."""
    for _ in range(warmup):
        baseline(), candidate()
    base, cand, base_faults, cand_faults = [], [], 0, 0
    for _ in range(repeats):
        _sync(device)
        f0 = faults()[0]
        t0 = time.perf_counter()
        baseline()
        _sync(device)
        t1 = time.perf_counter()
        f1 = faults()[0]
        candidate()
        _sync(device)
        t2 = time.perf_counter()
        f2 = faults()[0]
        base.append(t1 - t0)
        cand.append(t2 - t1)
        base_faults += f1 - f0
        cand_faults += f2 - f1
    ratios = [c / b for b, c in zip(base, cand)]
    return Paired(statistics.median(base), statistics.median(cand), statistics.median(ratios), _iqr(ratios),
                  base_faults / repeats, cand_faults / repeats)


def _iqr(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    q = statistics.quantiles(values, n=4, method="inclusive")
    return (q[0], q[2])


def saved_bytes(module: nn.Module, x: Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in ``module(x)`` (each storage region once)."""
    seen: dict[tuple, int] = {}

    def pack(t: Tensor) -> Tensor:
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel(), t.dtype)
        seen[key] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(seen.values())


def _unit(name: str, device: torch.device, compiled: bool) -> nn.Module:
    if name in NATIVE:
        return NATIVE[name]().to(device)
    torch.manual_seed(0)
    module = aa.create(name).to(device)
    return torch.compile(module, dynamic=False) if compiled else module


def _steps(module: nn.Module, x: Tensor, dy: Tensor) -> tuple[Callable[[], object], Callable[[], object]]:
    inputs = [x] + [p for p in module.parameters() if p.requires_grad]

    def forward() -> object:
        return module(x)

    def forward_backward() -> object:
        return torch.autograd.grad(module(x), inputs, dy, allow_unused=True)

    return forward, forward_backward


def bench_units(
    names: Sequence[str],
    shapes: Sequence[Sequence[int]] = SHAPES,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    backends: Sequence[str] = ("reference", "auto"),
    warmup: int = 3,
    repeats: int = 15,
    echo: Callable[[str], None] = lambda s: None,
) -> list[UnitResult]:
    """Time every unit in ``names`` (native names included) against ReLU at every shape and backend.

    ``backends``: kernel modes (``reference``, ``auto``: reported as the backend it picks, ...) and
    ``compile`` (``torch.compile`` of the unit, which traces the reference formulas). Bandwidths
    count the minimal traffic: forward reads x and writes y, backward reads x and dy and writes dx.
    """
    dev = torch.device(device)
    results = []
    for shape in shapes:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(tuple(shape), generator=gen).to(dev, dtype).requires_grad_(True)
        dy = torch.randn(tuple(shape), generator=gen).to(dev, dtype)
        relu = nn.ReLU()
        relu_fwd, relu_fb = _steps(relu, x, dy)
        for name in names:
            for backend in (("native",) if name in NATIVE else backends):
                module = _unit(name, dev, compiled=backend == "compile")
                label = backend
                with kernels.use("reference" if backend == "compile" else "auto" if backend == "native" else backend):
                    if backend == "auto":
                        label = _chosen_backend(module, x)
                    fwd, fb = _steps(module, x, dy)
                    pf = paired_times(relu_fwd, fwd, warmup, repeats, dev)
                    pfb = paired_times(relu_fb, fb, warmup, repeats, dev)
                    saved = saved_bytes(module, x)
                nbytes = x.numel() * x.element_size()
                t_fwd, t_fb = pf.candidate_s, pfb.candidate_s
                r = UnitResult(
                    name, label, tuple(shape), str(dtype).replace("torch.", ""), device,
                    1e3 * t_fwd, 1e3 * t_fb, pf.ratio, pfb.ratio, saved, saved / nbytes,
                    2 * nbytes / t_fwd / 1e9, 3 * nbytes / (t_fb - t_fwd) / 1e9 if t_fb > t_fwd else float("nan"),
                    torch.get_num_threads(), pf.ratio_iqr, pfb.ratio_iqr, pfb.candidate_faults, pfb.baseline_faults,
                )
                echo(f"{name:>14} {label:>9} {str(tuple(shape)):>18} {r.threads} thr fwd {r.forward_ratio:6.2f}x "
                     f"fwd+bwd {r.forward_backward_ratio:6.2f}x [{pfb.ratio_iqr[0]:.2f}, {pfb.ratio_iqr[1]:.2f}] "
                     f"saved {r.saved_ratio_to_input:5.2f}x input, {r.faults_per_call:.1f} faults/call")
                results.append(r)
    return results


def _chosen_backend(module: nn.Module, x: Tensor) -> str:
    """The backend ``auto`` picks for ``module`` on ``x`` (``torch`` when the module is not dispatched)."""
    with kernels.use("auto"), kernels.record() as used, torch.no_grad():
        module(x[:2])
    return used[-1] if used else "torch"


def bench_networks(
    units: Sequence[str],
    networks: Sequence[tuple[str, int, dict]] = NETWORKS,
    device: str = "cpu",
    warmup: int = 2,
    repeats: int = 7,
    echo: Callable[[str], None] = lambda s: None,
    backends: Sequence[str] = ("reference", "auto"),
) -> list[NetworkResult]:
    """Training step time of each network with each unit, as a ratio to the network with ReLU."""
    from adaptact.models import create_model

    dev = torch.device(device)
    results = []
    for net, batch, options in networks:
        gen = torch.Generator().manual_seed(0)
        images = torch.randn(batch, 1, 32, 32, generator=gen).to(dev)
        labels = torch.randint(0, 10, (batch,), generator=gen).to(dev)

        def stepper(act: str) -> Callable[[], object]:
            torch.manual_seed(0)
            model = create_model(net, act=act, in_channels=1, input_size=32, **options).to(dev)
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()

            def step() -> object:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(images), labels)
                loss.backward()
                opt.step()
                return loss

            return step

        relu_step = stepper("relu")
        for unit in units:
            for backend in backends:
                with kernels.use(backend):
                    p = paired_times(relu_step, stepper(unit), warmup, repeats, dev)
                    label = _chosen_backend(aa.create(unit).to(dev), images) if backend == "auto" else backend
                r = NetworkResult(net, unit, label, batch, dict(options), 1e3 * p.candidate_s, 1e3 * p.baseline_s,
                                  p.ratio, torch.get_num_threads(), p.ratio_iqr)
                echo(f"{net:>6} {unit:>12} {label:>9} step {r.step_ms:8.1f} ms  relu {r.relu_step_ms:8.1f} ms  "
                     f"ratio {r.ratio:5.2f}")
                results.append(r)
    return results


def environment() -> dict:
    """Machine and versions, for the record."""
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "adaptact": aa.__version__,
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "threads": torch.get_num_threads(),
        "kernel_backends": kernels.available(),
    }
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name()
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        pass
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def format_units(results: Sequence[UnitResult]) -> str:
    """A plain-text table of unit results (times in ms, ratios to ReLU with their spread, saved bytes over
    input bytes, page faults per call)."""
    head = (f"{'unit':<16}{'backend':<11}{'shape':<20}{'dtype':<10}{'thr':>4}{'fwd ms':>9}{'fwd x':>8}"
            f"{'f+b ms':>9}{'f+b x':>8}{'f+b x IQR':>14}{'saved/in':>10}{'faults':>8}")
    lines = [head, "-" * len(head)]
    for r in results:
        lo, hi = r.forward_backward_ratio_iqr
        lines.append(
            f"{r.name:<16}{r.backend:<11}{str(r.shape):<20}{r.dtype:<10}{r.threads:>4}{r.forward_ms:>9.2f}"
            f"{r.forward_ratio:>8.2f}{r.forward_backward_ms:>9.2f}{r.forward_backward_ratio:>8.2f}"
            f"{f'[{lo:.2f}, {hi:.2f}]':>14}{r.saved_ratio_to_input:>10.2f}{r.faults_per_call:>8.1f}"
        )
    return "\n".join(lines)


def format_networks(results: Sequence[NetworkResult]) -> str:
    """A plain-text table of network results."""
    head = (f"{'network':<10}{'unit':<14}{'backend':<11}{'thr':>4}{'batch':>6}{'step ms':>10}{'relu ms':>10}"
            f"{'ratio':>8}{'IQR':>14}")
    lines = [head, "-" * len(head)]
    for r in results:
        lo, hi = r.ratio_iqr
        lines.append(f"{r.network:<10}{r.unit:<14}{r.backend:<11}{r.threads:>4}{r.batch:>6}{r.step_ms:>10.1f}"
                     f"{r.relu_step_ms:>10.1f}{r.ratio:>8.2f}{f'[{lo:.2f}, {hi:.2f}]':>14}")
    return "\n".join(lines)


def _unit_name(text: str) -> str:
    """A registered activation name (native ones included), checked before anything is timed."""
    from adaptact.registry import entry

    try:
        entry(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def add_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the benchmark's options to ``p`` (shared by ``benchmarks/units.py`` and ``adaptact bench``).

    Every value is checked as it is parsed (:mod:`adaptact.argcheck`): unit names, shapes, an
    available device, counts, and a writable ``--out``, so a bad one is refused before any timing.
    """
    p.add_argument("--units", nargs="+", type=_unit_name,
                   help="unit names (default: every trainable unit; --quick: the target units)")
    p.add_argument("--quick", action="store_true", help="the target units at (64, 64, 32, 32) only, fewer repeats")
    p.add_argument("--shapes", nargs="+", type=argcheck.shape, default=None, metavar="N,C,...",
                   help="input shapes, e.g. 64,64,32,32 4096,1024 (default: those two; --quick: the first)")
    p.add_argument("--device", type=argcheck.compute_device, default=None,
                   help="cpu or cuda (default: cpu, and cuda too when present)")
    p.add_argument("--repeats", type=argcheck.positive_int(10_000), default=None,
                   help="timed runs per measurement (default 15, quick 7)")
    p.add_argument("--no-networks", action="store_true", help="skip the LeNet/VGG-8 training steps")
    p.add_argument("--no-reference", action="store_true",
                   help="time only the fused path the dispatcher picks (not the reference formulas)")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile of the reference formulas (always on CUDA)")
    p.add_argument("--threads", type=argcheck.positive_int(1024), nargs="+", default=None,
                   help="thread counts to measure at, each in turn (default: 1 and 2, or 1 on one core)")
    p.add_argument("--malloc", choices=("held", "default"), default="held",
                   help="held: keep freed memory in the heap (no page faults between timed calls; "
                        "see adaptact.malloc_control); default: glibc's own thresholds")
    p.add_argument("--out", type=argcheck.output_file, default=None, help="write the results as JSON to this file")
    return p


def run(args: argparse.Namespace, echo: Callable[[str], None] = print) -> dict:
    """Run the benchmark described by ``args``; print the tables; return (and maybe write) the JSON record."""
    threads = args.threads or ([1, 2] if (os.cpu_count() or 1) >= 2 else [1])
    heap = hold_heap() if args.malloc == "held" else None
    # served CPU calls run on the C++ autograd node once it is built: build it before timing anything
    cpp_node = "in use" if native_node.wait(timeout=600) else native_node.problem() or "not ready"
    if args.malloc == "held" and heap is None:
        echo("note: this C library has no mallopt; the heap is not held (see the faults column)")
    units = args.units or (list(TARGET_UNITS) if args.quick else aa.list_activations(trainable=True))
    names = list(NATIVE) + [u for u in units if u not in NATIVE]
    repeats = args.repeats or (7 if args.quick else 15)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    record: dict = {"environment": {**environment(), "malloc": heap or "glibc defaults", "thread_counts": threads,
                                    "cpp_autograd_node": cpp_node},
                    "command": " ".join(sys.argv), "units": [], "networks": []}
    for n_threads, device in ((t, d) for t in threads for d in devices):
        torch.set_num_threads(n_threads)
        dtypes = [torch.float32] + ([torch.bfloat16] if device == "cuda" else [])
        shapes = QUICK_SHAPES if args.quick else SHAPES
        if args.shapes:
            shapes = tuple(args.shapes)
        if device == "cuda":
            shapes = tuple(shapes) + ((64 * 1024 * 1024,),)
        for dtype in dtypes:
            compiled = ("compile",) if args.compile or device == "cuda" else ()
            backends = (() if args.no_reference else ("reference",)) + ("auto",) + compiled
            rows = bench_units(names, shapes, device, dtype, backends, repeats=repeats, echo=echo)
            record["units"] += [asdict(r) for r in rows]
            echo(format_units(rows))
        if not args.no_networks:
            nets = bench_networks([u for u in TARGET_UNITS if u in units] or units[:2], device=device,
                                  repeats=max(3, repeats // 2), echo=echo,
                                  backends=("auto",) if args.no_reference else ("reference", "auto"))
            record["networks"] += [asdict(r) for r in nets]
            echo(format_networks(nets))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1))
        echo(f"wrote {args.out}")
    return record


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(add_options(argparse.ArgumentParser(description=__doc__.split("\n")[0])).parse_args(argv))
    return 0
