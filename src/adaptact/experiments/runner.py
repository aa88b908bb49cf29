"""The sweep runner: expand an experiment into runs, skip those already recorded, run the rest in parallel.

Every run is identified by the hash of its spec and leaves one record file,
``<out>/records/<key>.json``, written atomically by the parent process once the run is
over. Killing the runner loses at most the runs in flight (local workers die with their
parent); running the same command again finishes the rest. A run that raises is recorded
with status ``failed`` and its error, and the sweep goes on; failed runs are tried again
on the next invocation, finished (``ok``) and ``diverged`` runs never are.

Every run computes with its spec's thread count (``RunSpec.threads``, default 1), whatever
``workers`` is, so a record's numbers depend on its key only. A file under ``records/`` that
is not a well-formed record of the run its name says (see :meth:`RunRecord.load`: foreign or
truncated JSON, a key that is not its file's, ``ok`` without a finite metric, another thread
count) is reported by name (a warning of the ``adaptact.records`` logger and a line in
``executions.log``) and moved to ``<out>/quarantine/``, never deleted, before its run is redone.

Worker processes are spawned without running the user's main script again, so a script that calls
:func:`reproduce` needs no ``if __name__ == "__main__":`` guard. What a worker needs of the user's
code it imports itself (:func:`worker_plugins`): the experiment files loaded by path, the modules whose
import registers a model or data set (:func:`~adaptact.models.register_model`), and the parent's
``sys.path`` (import paths such as ``my_pkg.nets:make_net`` resolve there as in the parent). A model or
data set registered in the main script itself (``__main__``) cannot reach a worker: it is refused before
any run, naming the fix (a module, the experiment file, or an import path).

With ``engine="ray"`` every run is one Ray task that reserves ``spec.threads`` CPUs and, for a CUDA
spec, ``gpus_per_task`` GPUs (default 1; a fraction such as 0.5 packs runs onto one GPU), see
:func:`ray_task_options`. The driver joins the cluster at ``$RAY_ADDRESS`` when it is set, else starts
a local Ray. Tasks get their spec as JSON and load their data set themselves, from ``data_dir`` (on a
cluster: a path every node can read, e.g. a shared file system) or, for data sets needing no files,
by computing it.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from adaptact.experiments.base import Cell, Experiment
from adaptact.train import RunRecord, RunSpec, resolve_device, write_json_atomic
from adaptact.train.record import DamagedRecord, ResultsError

__all__ = ["ENGINES", "SweepSummary", "load_records", "quarantine", "ray_task_options", "read_manifest", "reuse_record",
           "record_path", "reproduce", "run_specs", "stored_experiment_path", "worker_plugins"]

log = logging.getLogger("adaptact.records")

ENGINES = ("local", "ray")
#: record statuses that count as done (a failed run is tried again)
DONE = ("ok", "diverged")
#: the status of a run whose data set is missing: reported, never written, so it runs once the data are there
UNAVAILABLE = "unavailable"


def record_path(out: Path, spec: RunSpec) -> Path:
    return Path(out) / "records" / f"{spec.key()}.json"


def quarantine(out: Path, path: Path, why: str) -> Path:
    """Move a damaged or foreign file of ``out`` to ``<out>/quarantine/`` (never over another one), say so, return where."""
    folder = Path(out) / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 0
    while target.exists():
        n += 1
        target = folder / f"{path.stem}.{n}{path.suffix}"
    os.replace(path, target)
    message = f"set aside {' '.join(why.split())} -> {target}"
    log.warning(message)
    _log(Path(out), f"quarantined: {message}")
    return target


def _read_record(out: Path, path: Path, set_aside: bool) -> RunRecord | None:
    """The record in ``path``, or ``None`` when it is missing or damaged (reported; moved away if ``set_aside``)."""
    try:
        return RunRecord.load(path, check_name=True)
    except FileNotFoundError:
        return None
    except (OSError, DamagedRecord) as err:
        if set_aside and path.exists():
            quarantine(out, path, str(err))
        else:
            log.warning(f"skipped {' '.join(str(err).split())}")
        return None


def _reuse_candidates(folder: Path, key: str) -> list[Path]:
    """Where a record of run ``key`` may be under ``folder``: a results folder (``records/<key>.json``) or a
    folder of results folders (``*/records/<key>.json``)."""
    own = folder / "records" / f"{key}.json"
    return [own] if own.exists() else sorted(folder.glob(f"*/records/{key}.json"))


def reuse_record(out: Path, spec: RunSpec, folders: Sequence[Path]) -> Path | None:
    """Copy a finished record of ``spec``'s run from one of ``folders`` into ``out`` (its tags set to this
    spec's, which are not part of the identity); return where it came from, or ``None``.

    Records are identified by their spec alone, so a finished run of another experiment with the same key is
    this run (abu-table2's ABU cells are abu-table1's). A candidate must pass every check a record of ``out``
    passes (:meth:`RunRecord.load`); one that does not is reported and left where it is."""
    key = spec.key()
    for folder in folders:
        for path in _reuse_candidates(Path(folder), key):
            if path.resolve() == record_path(out, spec).resolve():
                continue
            try:
                record = RunRecord.load(path, check_name=True)
            except (OSError, DamagedRecord) as err:
                log.warning(f"not reused: {' '.join(str(err).split())}")
                continue
            if record.status not in DONE:
                continue
            data = json.loads(path.read_text())
            data["spec"]["tags"] = spec.to_dict().get("tags", {})
            write_json_atomic(record_path(out, spec), data, compact=True)
            _log(out, f"reused {key} {data['spec']['tags']} from {path}")
            return path
    return None


def load_records(out: str | os.PathLike, *, set_aside: bool = False) -> list[RunRecord]:
    """Every well-formed record under ``<out>/records``; a damaged or foreign file is reported by name and
    skipped, or with ``set_aside`` moved to ``<out>/quarantine/`` (a run of this engine never leaves one:
    records are written atomically)."""
    out = Path(out)
    records = []
    for path in sorted((out / "records").glob("*.json")):
        record = _read_record(out, path, set_aside)
        if record is not None:
            records.append(record)
    return records


def read_manifest(out: str | os.PathLike) -> dict[str, Any]:
    """``<out>/manifest.json`` (what was reproduced into ``out``); a damaged one raises :class:`ResultsError` naming it."""
    path = Path(out) / "manifest.json"
    if not path.exists():
        raise ResultsError(f"{out} has no manifest.json: run `adaptact reproduce NAME --out {out}` first")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path} is damaged ({err}): move it away and run `adaptact reproduce` again") from None
    experiments = manifest.get("experiments") if isinstance(manifest, dict) else None
    if not isinstance(experiments, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("profile"), str) and isinstance(v.get("overrides", {}), dict)
            for v in experiments.values()):
        raise ResultsError(f"{path} is not a results manifest (no 'experiments' with a profile each): move it away "
                           "and run `adaptact reproduce` again")
    return manifest


# ----------------------------------------------------------------------------- execution of one run


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, so no orphan keeps running a spec."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers may outlive a killed runner
        pass


def worker_plugins(specs: Iterable[RunSpec] = ()) -> dict[str, list[str]]:
    """What a worker process loads before its first run so that it knows the user's models, data sets and
    experiments: ``sys_path`` (the parent's), ``modules`` (whose import registers them), ``files`` (experiment
    files loaded by path).

    Raises:
        ValueError: a model or data set that one of ``specs`` uses was registered in the main script
            (``__main__``), which workers never run.
    """
    import sys

    from adaptact.data.catalog import registered_origins as data_origins
    from adaptact.experiments import user_files
    from adaptact.models import registered_origins as model_origins

    specs = list(specs)
    used = {"model": {s.model.lower() for s in specs}, "data set": {s.data.lower() for s in specs}}
    modules = []
    for kind, origins in (("model", model_origins()), ("data set", data_origins())):
        for name, module in origins.items():
            if module == "__main__" and name in used[kind]:
                raise ValueError(f"{kind} {name!r} is registered in the script being run (__main__), which the "
                                 "sweep's worker processes do not run: register it in a module or in the experiment "
                                 "file, or name it by its import path (package.module:function)")
            if module == "__main__" or module.startswith("adaptact_user_"):
                continue  # defined in an experiment file: loading the file registers it
            if module not in modules:
                modules.append(module)
    return {"sys_path": list(sys.path), "modules": modules, "files": user_files()}


_LOADED_PLUGINS: set[str] = set()


def _load_plugins(plugins: dict[str, list[str]] | None) -> None:
    """Load ``plugins`` (:func:`worker_plugins`) once per process."""
    import importlib
    import sys

    from adaptact.experiments import load_experiment_file

    if not plugins:
        return
    for entry in plugins.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)
    for module in plugins.get("modules", []):
        if module not in _LOADED_PLUGINS:
            importlib.import_module(module)
            _LOADED_PLUGINS.add(module)
    for path in plugins.get("files", []):
        if path not in _LOADED_PLUGINS:
            load_experiment_file(path)
            _LOADED_PLUGINS.add(path)


_HEAP_HELD: list[bool] = []


def _hold_heap() -> None:
    """Once per worker process: keep freed memory in the process (:func:`adaptact.malloc_control.hold_heap`), so
    that the tensors a training step frees and allocates again do not fault their pages in at every step (the
    sentence CNN's 5M-parameter embedding under Adadelta: 1.04M page faults in 60 steps, 0.40M held; 7 % of
    the run's CPU time). Numbers are unchanged; ``ADAPTACT_HOLD_HEAP=0`` keeps glibc's defaults."""
    if not _HEAP_HELD and os.environ.get("ADAPTACT_HOLD_HEAP", "1") != "0":
        from adaptact.malloc_control import hold_heap

        _HEAP_HELD.append(hold_heap() is not None)


def _init_worker(plugins: dict[str, list[str]] | None = None) -> None:
    _die_with_parent()
    _hold_heap()
    _load_plugins(plugins)


def execute(spec_dict: dict[str, Any], plugins: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Run one spec and return its record as a dict; an exception becomes a ``failed`` record.

    ``plugins`` (:func:`worker_plugins`) are loaded first (Ray tasks; local workers load them at start)."""
    from adaptact.train import run

    from adaptact.data import DataError

    spec = RunSpec.from_dict(spec_dict)
    start = time.perf_counter()
    try:
        _hold_heap()
        _load_plugins(plugins)
        record = run(spec)
    except DataError as err:  # the data set is not here: not a failure of the run, and not recorded
        record = RunRecord(key=spec.key(), spec=spec.to_dict(), status="unavailable", error=str(err))
    except Exception as err:  # noqa: BLE001 - a failed run is data, not a crash of the sweep
        record = RunRecord(key=spec.key(), spec=spec.to_dict(), status="failed",
                           error=f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=8)}",
                           wall_time=time.perf_counter() - start)
    return record.to_dict()


# ----------------------------------------------------------------------------- progress


class _Display:
    """done / running / failed / left and an estimate of the time left: a rich live line on a terminal; into
    a log or a pipe, the same line as plain text (never wrapped) when a run finishes, at most every
    :attr:`LOG_EVERY` seconds, and at the end."""

    LOG_EVERY = 30.0

    def __init__(self, total: int, workers: int, enabled: bool, title: str, stream=None) -> None:
        self.total, self.workers, self.start = total, max(1, workers), time.perf_counter()
        self.done = self.failed = self.running = 0
        self.durations: list[float] = []
        self.title = title
        self.live = None
        self.stream = None
        self.logged = -math.inf
        if enabled:
            stream = stream if stream is not None else sys.stdout
            if stream.isatty():
                from rich.live import Live

                self.live = Live(self.render(), refresh_per_second=2, transient=False)
                self.live.start()
            else:
                self.stream = stream

    def render(self):
        from rich.text import Text

        left = self.total - self.done - self.failed
        if self.durations:
            mean = sum(self.durations) / len(self.durations)
            eta = mean * max(left - self.running, 0) / self.workers + mean * (self.running > 0) / 2
            eta_text = f"~{eta / 60:.1f} min left"
        else:
            eta_text = "estimating time left"
        elapsed = (time.perf_counter() - self.start) / 60
        return Text(f"{self.title}: {self.done} done, {self.running} running, "
                    f"{self.failed} failed, {left} to do of {self.total} | {elapsed:.1f} min, {eta_text}")

    def _log_line(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.stream is not None and (force or now - self.logged >= self.LOG_EVERY):
            self.logged = now
            print(self.render().plain, file=self.stream, flush=True)

    def update(self, *, started: int = 0, finished: dict[str, Any] | None = None) -> None:
        self.running += started
        if finished is not None:
            self.running -= 1
            self.durations.append(finished.get("wall_time") or 0.0)
            if finished["status"] in ("failed", UNAVAILABLE):
                self.failed += 1
            else:
                self.done += 1
        if self.live is not None:
            self.live.update(self.render())
        elif finished is not None:
            self._log_line()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
        self._log_line(force=True)


# ----------------------------------------------------------------------------- engines


class _MainNotReimported:
    """While worker processes start: make :mod:`multiprocessing` skip running the main script in them.

    A spawned child normally re-runs the parent's main script (as ``__mp_main__``) so that functions
    defined there can be unpickled; the runner sends only JSON specs and functions of adaptact, so it
    does not need that, and a script without a ``__main__`` guard would start a sweep again in every
    worker. multiprocessing leaves the main module alone when ``__main__.__spec__`` names ``__main__``;
    that is set for the duration of the ``with`` block and then restored.
    """

    def __enter__(self):
        import importlib.machinery
        import sys

        self.main = sys.modules.get("__main__")
        self.had = self.main is not None and "__spec__" in vars(self.main)
        self.spec = getattr(self.main, "__spec__", None)
        if self.main is not None and self.spec is None:
            self.main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
        return self

    def __exit__(self, *exc):
        if self.main is not None and self.spec is None:
            if self.had:
                self.main.__spec__ = None
            else:
                del self.main.__spec__
        return False


def _run_local(specs: Sequence[RunSpec], workers: int, threads: int, sink: Callable[[dict], None],
               display: _Display, plugins: dict[str, list[str]]) -> None:
    """Run ``specs`` in ``workers`` spawned processes (each run sets its own thread count, see ``run``)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(plugins,)) as pool:
        queue = list(specs)
        running = set()
        while queue or running:
            while queue and len(running) < workers:
                with _MainNotReimported():  # workers start inside submit()
                    running.add(pool.submit(execute, queue.pop(0).to_dict()))
                display.update(started=1)
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                record = fut.result()
                sink(record)
                display.update(finished=record)


#: GPUs a Ray task of a CUDA spec reserves unless told otherwise ($ADAPTACT_RAY_GPUS, ``gpus_per_task``)
DEFAULT_GPUS_PER_TASK = 1.0


def _gpus_per_task(value: float | None) -> float:
    if value is None:
        text = os.environ.get("ADAPTACT_RAY_GPUS")
        try:
            value = float(text) if text else DEFAULT_GPUS_PER_TASK
        except ValueError:
            raise ValueError(f"$ADAPTACT_RAY_GPUS must be a number of GPUs per run (1, 0.5, ...), "
                             f"got {text!r}") from None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (0 < value <= 1 or (value > 1 and float(value).is_integer())):
        raise ValueError(f"GPUs per task must be a fraction in (0, 1] or a whole number, got {value!r}")
    return float(value)


def ray_task_options(spec: RunSpec, gpus_per_task: float | None = None) -> dict[str, float]:
    """The resources one Ray task of ``spec`` reserves: ``num_cpus`` = the threads it computes with,
    ``num_gpus`` = ``gpus_per_task`` (default ``$ADAPTACT_RAY_GPUS`` or 1) when the spec runs on CUDA, else 0.

    Ray hides the GPUs from a task that does not reserve one, so a CUDA run must ask for its GPU here.
    ``device="auto"`` is resolved on the driver before the specs are made (see :func:`reproduce`)."""
    cuda = str(spec.device).startswith("cuda")
    return {"num_cpus": float(spec.threads), "num_gpus": _gpus_per_task(gpus_per_task) if cuda else 0.0}


def _connect_ray(workers: int, threads: int):
    """Join the cluster at ``$RAY_ADDRESS``, else start a local Ray with ``workers * threads`` CPUs (and the
    machine's GPUs); return ``(ray, whether this call started it)``."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--engine ray needs Ray: pip install 'adaptact[distributed]'") from None
    if ray.is_initialized():
        return ray, False
    address = os.environ.get("RAY_ADDRESS")
    ray.init(address=address, num_cpus=None if address else workers * threads,
             include_dashboard=False, log_to_driver=False)
    return ray, True


def _run_ray(specs: Sequence[RunSpec], workers: int, threads: int, sink: Callable[[dict], None],
             display: _Display, plugins: dict[str, list[str]], gpus_per_task: float | None = None) -> None:
    ray, started_here = _connect_ray(workers, threads)
    try:
        task, pending = ray.remote(execute), []
        for spec in specs:  # a task reserves the CPUs its run computes with, and its GPU
            pending.append(task.options(**ray_task_options(spec, gpus_per_task)).remote(spec.to_dict(), plugins))
            display.update(started=1)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            record = ray.get(done[0])
            sink(record)
            display.update(finished=record)
    finally:
        if started_here:
            ray.shutdown()


# ----------------------------------------------------------------------------- sweeps


@dataclass
class SweepSummary:
    """What a call of :func:`reproduce` did."""

    out: Path
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)
    waiting: list[Cell] = field(default_factory=list)
    seconds: float = 0.0
    #: keys of the runs whose records were copied from another results folder (``reuse``), counted in ``skipped``
    reused: list[str] = field(default_factory=list)


def _log(out: Path, line: str) -> None:
    with open(out / "executions.log", "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


def _check_workers(workers: Any) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer (parallel runs), got {workers!r}")


def run_specs(
    specs: Iterable[RunSpec],
    out: str | os.PathLike,
    *,
    engine: str = "local",
    workers: int | None = None,
    progress: bool = True,
    title: str = "runs",
    gpus_per_task: float | None = None,
    reuse: Sequence[str | os.PathLike] = (),
    on_reuse: Callable[[str, Path], None] | None = None,
) -> tuple[int, int, dict[str, str]]:
    """Run every spec whose record is not yet in ``out`` (in parallel).

    ``gpus_per_task`` (Ray only): GPUs each CUDA run reserves (see :func:`ray_task_options`).
    ``reuse``: results folders (or folders of them) whose finished records of the same runs are copied into
    ``out`` instead of running them again (:func:`reuse_record`); they count as already recorded, and
    ``on_reuse(key, source)`` is called for each.

    ``workers`` (default: CPU cores // threads per run) only changes how many runs go at once,
    never their numbers. Every spec is validated first (``ValueError`` before any run); a damaged
    record file is set aside (see the module) and its run redone. Returns (runs done, runs skipped
    because already recorded, ``{key: message}`` of runs whose data set is missing).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    _check_workers(workers)
    out = Path(out)
    unique = {s.key(): s for s in specs}
    for spec in unique.values():  # a bad value is refused before any run, not recorded as failures
        spec.validate()
        if engine == "ray":
            ray_task_options(spec, gpus_per_task)
    plugins = worker_plugins(unique.values())
    (out / "records").mkdir(parents=True, exist_ok=True)
    todo, skipped = [], 0
    reuse = [Path(f) for f in reuse]
    for key, spec in unique.items():
        record = _read_record(out, record_path(out, spec), set_aside=True)
        if record is not None and record.status in DONE:
            skipped += 1
        elif reuse and (source := reuse_record(out, spec, reuse)) is not None:
            skipped += 1
            if on_reuse is not None:
                on_reuse(key, source)
        else:
            todo.append(spec)
    missing: dict[str, str] = {}
    if not todo:
        return 0, skipped, missing
    threads = max(spec.threads for spec in todo)
    cores = os.cpu_count() or 1
    workers = min(workers or max(1, cores // threads), len(todo))

    def sink(record: dict[str, Any]) -> None:
        if record["status"] == UNAVAILABLE:
            missing[record["key"]] = record["error"]
            return
        write_json_atomic(out / "records" / f"{record['key']}.json", record, compact=True)
        _log(out, f"{record['status']} {record['key']} {record['spec']['tags']}")

    display = _Display(len(todo), workers, progress, title)
    try:
        if engine == "local":
            _run_local(todo, workers, threads, sink, display, plugins)
        else:
            _run_ray(todo, workers, threads, sink, display, plugins, gpus_per_task)
    finally:
        display.close()
    return len(todo) - len(missing), skipped, missing


def long_run_folders(overrides: dict[str, Any], out: Path) -> dict[str, Any]:
    """``overrides`` with the folders their long-run fields need inside the results folder ``out``:
    ``checkpoint_steps`` -> ``checkpoint_dir = <out>/checkpoints`` (each run in ``<key>/`` there, removed
    when it finishes), ``loggers`` -> ``log_dir = <out>/logs`` (each run's logs in ``<key>/``), unless
    given. Absolute paths, so workers started elsewhere find them."""
    overrides = dict(overrides)
    if overrides.get("checkpoint_steps") and not overrides.get("checkpoint_dir"):
        overrides["checkpoint_dir"] = str((out / "checkpoints").resolve())
    if overrides.get("loggers") and not overrides.get("log_dir"):
        overrides["log_dir"] = str((out / "logs").resolve())
    return overrides


def reproduce(
    experiment: str | Experiment,
    profile: str = "quick",
    *,
    seeds: int | None = None,
    out: str | os.PathLike | None = None,
    engine: str = "local",
    workers: int | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    gpus_per_task: float | None = None,
    reuse: Sequence[str | os.PathLike] = (),
) -> SweepSummary:
    """Run (or finish) every run of ``experiment``'s ``profile`` into ``out``; derived rows follow their sources.

    ``overrides`` are RunSpec fields set on every run (``data_dir``, ``device``, ``threads``, or
    e.g. ``epochs`` for a shorter trial; dict fields merge key by key into each cell's); a field
    the grid sets per cell (``seed``, the rows' and columns' fields) is refused, see
    :meth:`Experiment.plan`. ``device="auto"`` is resolved here and kept in the manifest, so a
    report made elsewhere finds the records. Columns whose data set is missing are reported in
    ``unavailable`` and not run. ``gpus_per_task``: see :func:`ray_task_options`.

    Long runs: ``overrides={"checkpoint_steps": N}`` checkpoints every run every N steps under
    ``<out>/checkpoints`` and a killed sweep started again resumes each unfinished run from its last
    checkpoint; ``{"loggers": ["csv", "tensorboard"]}`` logs every run under ``<out>/logs/<key>/``
    (see :func:`long_run_folders`).

    ``reuse``: other results folders, or folders of them (``campaign/``), whose finished records of runs
    of this sweep (the same key: the same spec) are copied in instead of running them again (see
    :func:`reuse_record`).

    ``out`` also keeps the experiment's definition (``experiments/<name>.json``, see
    :mod:`adaptact.experiments.stored`), so ``adaptact report``/``plot`` work without the code that defined it.
    Called from a script, it needs no ``if __name__ == "__main__":`` guard (see the module).
    """
    from adaptact.experiments import _all, get_experiment, register_experiment

    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    if not isinstance(experiment, str) and _all().get(exp.name) is not exp and exp.name not in _builtin_names():
        register_experiment(exp)  # its includes and a report in this process find it by name
    if exp.unavailable:
        raise ValueError(f"{exp.name} cannot be reproduced here: {exp.unavailable}")
    _check_workers(workers)
    for folder in reuse:
        if not Path(folder).is_dir():
            raise ValueError(f"reuse: {folder} is not a folder (a results folder, or a folder of them)")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 10**6):
        raise ValueError(f"seeds must be an integer in [1, 1000000], got {seeds!r}")
    overrides = dict(overrides or {})
    RunSpec.from_dict({**RunSpec().to_dict(), **overrides})  # an unknown field fails here, before any run
    if overrides.get("device", "auto") == "auto":
        overrides["device"] = RunSpec().device_kind()
    resolve_device(str(overrides["device"]))  # cuda without CUDA fails here, not in every run
    exp.plan(profile, seeds, {}, **overrides)  # a bad profile or an override of a grid field fails before any run
    out = Path(out or f"results/{exp.name}-{profile}")
    out.mkdir(parents=True, exist_ok=True)
    overrides = long_run_folders(overrides, out)
    summary = SweepSummary(out=out)
    start = time.perf_counter()
    for included in exp.includes:
        sub = reproduce(included, profile, seeds=seeds, out=out, engine=engine, workers=workers,
                        progress=progress, overrides=overrides, gpus_per_task=gpus_per_task, reuse=reuse)
        summary.ran += sub.ran
        summary.reused += sub.reused
        summary.unavailable.update(sub.unavailable)
    summary.unavailable.update({f"{exp.name}/{c}": why for c, why in exp.unavailable_columns(profile).items()})
    planned, _ = exp.plan(profile, seeds, load_records(out), **overrides)
    _write_manifest(out, exp, profile, seeds, summary, overrides, planned)  # lets `report` read a killed sweep
    previous: set[str] | None = None
    while True:  # derived rows become plannable once the runs they need are recorded
        planned, waiting = exp.plan(profile, seeds, load_records(out, set_aside=True), **overrides)
        keys = {spec.key() for _, spec in planned}
        if keys == previous:
            break
        previous = keys
        ran, _, missing = run_specs([spec for _, spec in planned], out, engine=engine, workers=workers,
                                    progress=progress, title=f"{exp.name} ({profile})", gpus_per_task=gpus_per_task,
                                    reuse=reuse, on_reuse=lambda key, source: summary.reused.append(key))
        for cell, spec in planned:
            if spec.key() in missing:
                summary.unavailable[f"{exp.name}/{cell.column}"] = " ".join(missing[spec.key()].split())
        summary.ran += ran
        summary.waiting = waiting
        if not waiting:
            break
    records = {r.key: r for r in load_records(out)}
    statuses = [records[k].status if k in records else "missing" for k in previous or ()]
    summary.failed = statuses.count("failed")
    summary.skipped = sum(s in DONE for s in statuses) - summary.ran
    summary.seconds = time.perf_counter() - start
    _write_manifest(out, exp, profile, seeds, summary, overrides, planned)
    return summary


def _builtin_names() -> set[str]:
    from adaptact.experiments import _builtin

    return set(_builtin())


def stored_experiment_path(out: str | os.PathLike, name: str) -> Path:
    """Where ``out`` keeps the stored definition of experiment ``name`` (see :mod:`adaptact.experiments.stored`)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"experiment name {name!r} cannot name a file")
    return Path(out) / "experiments" / f"{name}.json"


def _write_manifest(out: Path, exp: Experiment, profile: str, seeds: int | None, summary: SweepSummary,
                    overrides: dict[str, Any] | None, planned: Sequence[tuple[Cell, RunSpec]]) -> None:
    import platform

    from adaptact.experiments.stored import experiment_to_dict

    import torch

    import adaptact

    path = out / "manifest.json"
    manifest = read_manifest(out) if path.exists() else {"experiments": {}}
    manifest["experiments"][exp.name] = {
        "profile": profile,
        "seeds": seeds if seeds is not None else exp.profile(profile).seeds,
        "overrides": overrides or {},
        "unavailable": {k: v for k, v in summary.unavailable.items() if k.startswith(exp.name + "/")},
        "last_invocation": {"ran": summary.ran, "skipped": summary.skipped, "seconds": round(summary.seconds, 1)},
    }
    manifest["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                           "adaptact": adaptact.__version__, "python": platform.python_version()}
    stored = stored_experiment_path(out, exp.name)
    stored.parent.mkdir(exist_ok=True)
    n_seeds = seeds if seeds is not None else exp.profile(profile).seeds
    write_json_atomic(stored, experiment_to_dict(exp, profile, n_seeds, overrides or {}, planned))
    write_json_atomic(path, manifest)
