"""The ``adaptact`` command line.

Every command checks all its arguments and paths before it does any work (``train`` also
loads the data and builds the model once, so a bad option or a model that cannot read the
data is refused before training). A user error ends in one line on stderr,
``adaptact <command>: error: <message>``, naming the option, file or value:

- exit status 2: a refused argument (argparse's own errors and :class:`~adaptact.argcheck.UsageError`)
  or any ``ValueError`` the library raises about the input (``DataError`` included);
- exit status 1: the environment stops the command (``OSError``, a forced kernel backend
  that cannot run, a missing optional package); 130: interrupted.

Any other exception is a bug and keeps its traceback; ``--debug`` (before or after the
command) shows the traceback of user errors too.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
import tempfile
from pathlib import Path

from adaptact.argcheck import (
    UsageError, check, device, existing_folder, finite_positive_float, output_file, output_folder, positive_int,
    seed,
)

#: optional packages and the extra of adaptact that installs them
OPTIONAL_PACKAGES = {"matplotlib": "plot", "pandas": "report", "ray": "distributed", "triton": "gpu", "PIL": "data"}


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from adaptact.registry import entry, list_activations

    if args.experiments:
        return _list_experiments()
    if args.datasets:
        return _list_datasets()

    table = Table(title="registered activations")
    for col in ("name", "family", "trainable", "default sharing", "aliases", "formula"):
        table.add_column(col)
    for name in list_activations(trainable=True if args.trainable else None):
        e = entry(name)
        table.add_row(e.name, e.family, "yes" if e.trainable else "", e.granularity, " ".join(e.aliases), e.summary)
    Console().print(table)
    return 0


def _list_experiments() -> int:
    from rich.console import Console
    from rich.table import Table

    from adaptact.experiments import get_experiment, list_experiments

    table = Table(title="experiments (adaptact reproduce NAME)")
    for col in ("name", "reproduces", "quick profile", "full profile"):
        table.add_column(col)
    for name in list_experiments():
        e = get_experiment(name)
        quick, full = e.profiles.get("quick"), e.profiles.get("full")
        what = f"{e.title} [{e.source}]" + (f" - UNAVAILABLE: {e.unavailable}" if e.unavailable else "")
        table.add_row(name, what, quick.budget if quick else "-", full.budget if full else "-")
    Console().print(table)
    return 0


def _list_datasets() -> int:
    from rich.console import Console
    from rich.table import Table

    from adaptact.data import list_datasets

    table = Table(title="data sets (--data NAME; files from --data-dir or $ADAPTACT_DATA)")
    for col in ("name", "aliases", "needs files", "default normalisation", "what"):
        table.add_column(col)
    for name, info in list_datasets().items():
        table.add_row(name, " ".join(info["aliases"]), "yes" if info["needs_files"] else "no",
                      info["normalization"], info["description"])
    Console().print(table)
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from adaptact.data import fetch

    files = fetch(args.name, args.data_dir, optional=args.optional, overwrite=args.overwrite)
    for f in files:
        verified = "verified" if f["verified"] else "NOT verified (no published checksum)"
        print(f"{f['status']:>10}  {f['file']}  ({verified})")
    return 0


def _experiments_with_includes(exp) -> list:
    """``exp`` and, first, every experiment it includes (recursively)."""
    from adaptact.experiments import get_experiment

    return [e for name in exp.includes for e in _experiments_with_includes(get_experiment(name))] + [exp]


def _check_planned_runs(exp, profile: str, seeds: int | None, overrides: dict) -> None:
    """Validate every run ``reproduce`` would start (the ones derived from others' results come later)."""
    for e in _experiments_with_includes(exp):
        planned, _ = e.plan(profile, seeds, (), **overrides)
        for cell, spec in planned:
            try:
                spec.validate()
            except ValueError as err:
                raise UsageError(f"{e.name}, cell {cell.row} / {cell.column}: {err}") from err


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from rich.console import Console

    from adaptact.experiments import get_experiment, reproduce
    from adaptact.report import write_figures, write_report

    exp = get_experiment(args.name)
    if args.profile not in exp.profiles:
        raise UsageError(f"argument --profile: {exp.name} has no profile {args.profile!r}; "
                         f"choose from {', '.join(sorted(exp.profiles))}")
    if exp.unavailable:
        raise UsageError(f"{exp.name} cannot be reproduced here: {exp.unavailable}")
    overrides = _spec_fields(args.set, "--set")
    if args.data_dir:
        overrides["data_dir"] = str(args.data_dir)
    if args.device:
        overrides["device"] = args.device
    if args.threads:
        overrides["threads"] = args.threads
    if args.checkpoint_steps:
        overrides["checkpoint_steps"] = args.checkpoint_steps
    if args.log is not None:
        overrides["loggers"] = _loggers(args.log)
    _need_logger_packages(overrides.get("loggers", []))
    if "device" in overrides:
        check("--device", device, overrides["device"])
    if args.engine == "ray":
        _need_package("ray", "--engine ray")
    out = check("--out", output_folder, args.out or f"results/{exp.name}-{args.profile}")
    _check_planned_runs(exp, args.profile, args.seeds, overrides)

    console = Console()
    summary = reproduce(exp, args.profile, seeds=args.seeds, out=out, engine=args.engine,
                        workers=args.workers, progress=not args.quiet, overrides=overrides,
                        gpus_per_task=args.gpus_per_task, reuse=args.reuse_records or ())
    copied = f" ({len(summary.reused)} copied from --reuse-records)" if summary.reused else ""
    console.print(f"{summary.ran} run(s) done now, {summary.skipped} already recorded{copied}, {summary.failed} "
                  f"failed, {summary.seconds / 60:.1f} min")
    for what, why in summary.unavailable.items():
        console.print(f"[yellow]not run:[/yellow] {what}: {why}")
    if summary.waiting:
        console.print(f"[yellow]{len(summary.waiting)} derived run(s) could not be built (their source runs failed)")
    paths = write_report(out) + (write_figures(out) if not args.no_figures else [])
    print(paths[0].read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in paths))
    return 1 if summary.failed else 0


def _results_folder(text: str) -> Path:
    """A folder written by ``adaptact reproduce`` (it has a manifest.json), where reports can be written."""
    path = existing_folder(text)
    if not (path / "manifest.json").is_file():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is not a results folder (it has no manifest.json); "
                                         f"write one with `adaptact reproduce NAME --out {path}`")
    return output_folder(str(path))


def _cmd_report(args: argparse.Namespace) -> int:
    from adaptact.report import write_report

    folder = check("dir", _results_folder, args.dir)
    paths = write_report(folder, force=args.force)
    print(paths[0].read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in paths))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from adaptact.report import write_figures
    from adaptact.report.paper_figures import PAPER_FIGURES, draw_paper_figure

    choices = sorted(PAPER_FIGURES) + ["all"]
    if args.figure:
        if args.figure not in choices:
            raise UsageError(f"argument --figure: unknown figure {args.figure!r}; choose from {', '.join(choices)}")
        folder = check("dir", output_folder, args.dir or "results/figures")
        names = sorted(PAPER_FIGURES) if args.figure == "all" else [args.figure]
        paths = [p for name in names for p in draw_paper_figure(name, folder)]
    elif args.dir:
        paths = write_figures(check("dir", _results_folder, args.dir))
    else:
        raise UsageError(f"give a results folder, or --figure NAME (stand-alone figures: {', '.join(choices)})")
    for path in paths:
        print(path)
    return 0


def _value(text: str):
    """Parse a command-line value: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _finite(value) -> bool:
    """No NaN or infinity anywhere in ``value`` (JSON gives them for ``NaN``, ``Infinity``, ``1e400``)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def _pairs(items: list[str] | None, option: str) -> dict:
    """``KEY=VALUE`` items as a dict of parsed values; a malformed item or a non-finite number is refused."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"argument {option}: expects KEY=VALUE, got {item!r}")
        value = _value(text)
        if not _finite(value):
            raise UsageError(f"argument {option}: {item!r}: the value must be finite")
        out[key] = value
    return out


_ANNOTATION_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "None": (type(None),),
                     "dict": (dict,), "list": (list,), "tuple": (list, tuple)}


def _annotation_types(annotation: str) -> tuple[type, ...] | None:
    """The Python types a field annotation such as ``"str | list[str] | None"`` admits; None: any."""
    depth, parts, current = 0, [], ""
    for ch in annotation:
        depth += (ch == "[") - (ch == "]")
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    types: list[type] = []
    for part in parts + [current]:
        base = part.split("[")[0].strip()
        if base not in _ANNOTATION_TYPES:
            return None
        types += _ANNOTATION_TYPES[base]
    return tuple(types)


def _spec_fields(items: list[str] | None, option: str) -> dict:
    """``FIELD=VALUE`` items as RunSpec fields: unknown fields and values of the wrong type are refused."""
    from adaptact.train import RunSpec

    annotations = {f.name: str(f.type) for f in dataclasses.fields(RunSpec)}
    fields = _pairs(items, option)
    for key, value in fields.items():
        if key not in annotations:
            raise UsageError(f"argument {option}: unknown run spec field {key!r}; fields are "
                             f"{', '.join(sorted(annotations))}")
        allowed = _annotation_types(annotations[key])
        wrong_bool = isinstance(value, bool) and bool not in (allowed or (bool,))
        if allowed is not None and (wrong_bool or not isinstance(value, allowed)):
            raise UsageError(f"argument {option}: {key}={json.dumps(value)}: {key} takes {annotations[key]}")
    return fields


def _act(text: str):
    """``pau``, or ``act_conv=agumbel,act_fc=relu`` for models with several activation arguments."""
    if "=" not in text:
        return text
    parts = [part.partition("=") for part in text.split(",")]
    if any(not key or not sep or not name for key, sep, name in parts):
        raise UsageError(f"argument --act: expects NAME or ARG=NAME,ARG=NAME, got {text!r}")
    return {key: name for key, _, name in parts}


def _need_package(name: str, what: str) -> None:
    if importlib.util.find_spec(name) is None:
        extra = OPTIONAL_PACKAGES.get(name)
        raise UsageError(f"{what} needs the package {name!r}: pip install "
                         + (f"'adaptact[{extra}]'" if extra else name))


def _preflight(spec) -> None:
    """Load the data and build the model once and run it on two examples, as ``run`` will: every bad option,
    missing file or model that cannot read the data is refused here, before any training."""
    import torch

    from adaptact.train.loop import _check_compatible, build_model_for, data_signature, load_data_for, resolve_device

    dev = resolve_device(spec.device)
    try:
        data = load_data_for(spec, dev)
    except TypeError as err:
        if not spec.data_options:
            raise
        raise UsageError(f"argument --data-option: {spec.data} cannot be loaded with "
                         f"{json.dumps(spec.data_options)}: {err}") from err
    _check_compatible(spec, data)
    given = {k: v for k, v in (("--model-option", spec.model_options), ("--act-option", spec.act_options)) if v}
    what = " ".join(f"{k} {json.dumps(v)}" for k, v in given.items())
    try:
        model = build_model_for(spec, data_signature(data)).to(dev)
    except TypeError as err:
        if not given:
            raise
        raise UsageError(f"model {spec.model!r} cannot be built with {what}: {err}") from err
    model.eval()
    try:
        with torch.no_grad():
            model(data.x_train[:2])
    except RuntimeError as err:
        shape = tuple(data.x_train.shape[1:])
        raise UsageError(f"model {spec.model!r}{' with ' + what if what else ''} cannot read {spec.data!r} "
                         f"(inputs of shape {shape}): {err}") from err


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expects an integer >= 0, got {text!r}")
    return int(text)


def _cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from adaptact.train import RunSpec, run
    from adaptact.train.checkpoint import SaveTrained

    spec = RunSpec(
        model=args.model, act=_act(args.act), data=args.data, data_dir=args.data_dir and str(args.data_dir),
        epochs=args.epochs, steps=args.steps, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, seed=args.seed, device=args.device, selection=args.selection,
        act_options=_pairs(args.act_option, "--act-option"), model_options=_pairs(args.model_option, "--model-option"),
        data_options=_pairs(args.data_option, "--data-option"), progress=not args.quiet, threads=args.threads,
        record_every=args.record_every, checkpoint_steps=args.checkpoint_steps or None, loggers=_loggers(args.log),
    )
    spec = RunSpec.from_dict({**spec.to_dict(), **_spec_fields(args.set, "--set")})
    spec.validate()
    check("--seed", seed, spec.seed)  # also when given by --set
    check("--device", device, spec.device)
    out = check("--out", output_file, args.out or f"runs/train/{spec.model}-{spec.data}-{spec.key()}.json")
    save_model = args.save_model and check("--save-model", output_file, args.save_model)
    if save_model and save_model.suffix == ".safetensors":
        _need_package("safetensors", "--save-model *.safetensors")
    log_dir = Path(args.log_dir) if args.log_dir else out.with_suffix(".logs")
    _need_logger_packages(spec.loggers)
    _preflight(spec)

    console = Console()
    checkpoints = out.with_suffix(".ckpt")
    if spec.checkpoint_steps and (checkpoints / "checkpoint.pt").exists():
        console.print(f"resuming from the checkpoint in {checkpoints}")
    record = run(spec, checkpoint_dir=checkpoints, log_dir=log_dir if spec.loggers else None,
                 callbacks=[SaveTrained(save_model)] if save_model else ())
    _save(record, out)
    if record.status != "ok":
        console.print(f"[red]{record.status}:[/red] {record.error}")
        console.print(f"record written to {out}")
        return 1
    m = record.metrics
    console.print(
        f"test accuracy {100 * m['test_accuracy']:.2f}% (selection: {spec.selection}, step {m['selected_step']}), "
        f"final {100 * m['final_test_accuracy']:.2f}%, train loss {m['train_loss']:.4f}, "
        f"{record.throughput:.0f} examples/s, {record.wall_time:.1f} s on {record.environment['device']}"
    )
    console.print(f"record written to {out}" + (f", logs in {log_dir}" if spec.loggers else "")
                  + (f", model saved to {save_model}" if save_model and record.status == "ok" else ""))
    return 0


def _need_logger_packages(loggers) -> None:
    for name in loggers:
        if name in ("tensorboard", "wandb", "mlflow"):
            _need_package(name, f"--log {name}")


def _loggers(text: str) -> list[str]:
    """``csv,tensorboard`` as a list of logger names; ``none``: no logger."""
    from adaptact.train.spec import LOGGERS

    names = [] if text == "none" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise UsageError(f"argument --log: unknown logger(s) {unknown}; loggers are {', '.join(LOGGERS)} (or none)")
    return names


def _save(record, out: Path) -> None:
    """Write the record to ``out``; should that fail after all (disk full), to the temporary folder, and say so."""
    try:
        record.save(out)
    except OSError as err:
        rescue = Path(tempfile.mkdtemp(prefix="adaptact-record-")) / out.name
        record.save(rescue)
        raise OSError(f"could not write {out} ({err.strerror or err}); the record was written to {rescue}") from err


def _cmd_bench(args: argparse.Namespace) -> int:
    from adaptact.bench import run

    run(args)
    return 0


def _one_line(text: str) -> str:
    """``text`` on one line: a line indented under another continues it (``looked for a, b``), others join with "; "."""
    out, previous_indented = "", False
    for raw in text.splitlines():
        line, indented = raw.strip(), raw[:1].isspace()
        if not line:
            continue
        if out:
            out += (", " if previous_indented else " ") if indented else "; "
        out += line
        previous_indented = indented
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with its refusals on one line, ``PROG: error: MESSAGE`` (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="adaptact", description="trainable activation functions for PyTorch")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(parent, name: str, func, **kwargs) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], **kwargs)
        p.set_defaults(func=func, prog=p.prog)
        return p

    p = command(sub, "list", _cmd_list, help="list the registered activations")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--trainable", action="store_true", help="only the trainable ones")
    what.add_argument("--experiments", action="store_true", help="list the experiments instead")
    what.add_argument("--datasets", action="store_true", help="list the data sets instead")

    p = sub.add_parser("data", parents=[common], help="data sets: download the official release files")
    p.set_defaults(prog=p.prog)
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = command(data_sub, "fetch", _cmd_data_fetch,
                help="download and verify a data set's official files into --data-dir")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None, help="target folder (default: $ADAPTACT_DATA)")
    q.add_argument("--optional", action="store_true", help="also the optional files (SVHN extra)")
    q.add_argument("--overwrite", action="store_true")

    p = command(sub, "reproduce", _cmd_reproduce,
                help="re-run a paper's comparison (resumable), then write its report and figures")
    p.add_argument("name", help="experiment id (adaptact list --experiments), or a Python file defining EXPERIMENT "
                   "(path/to/my_experiment.py)")
    p.add_argument("--profile", default="quick", help="quick (default), medium or full (adaptact list --experiments)")
    p.add_argument("--seeds", type=positive_int(1000), default=None, help="seeds per cell (default: the profile's)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument("--gpus-per-task", type=float, default=None, metavar="G",
                   help="with --engine ray and --device cuda: GPUs each run reserves "
                   "(default 1; 0.5 packs two per GPU)")
    p.add_argument("--workers", type=positive_int(1024), default=None,
                   help="parallel runs (default: CPU cores // threads); never changes the numbers")
    p.add_argument("--threads", type=positive_int(1024), default=None,
                   help="torch threads per run (default 1; part of each run's identity)")
    p.add_argument("--out", default=None, help="results folder (default results/NAME-PROFILE)")
    p.add_argument("--data-dir", type=existing_folder, default=None,
                   help="folder with the data sets (default: $ADAPTACT_DATA)")
    p.add_argument("--device", type=device, default=None, help="auto (default), cpu or cuda")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="RunSpec field for every run")
    p.add_argument("--checkpoint-steps", type=_non_negative_int, default=0, metavar="N",
                   help="checkpoint every run every N steps under <out>/checkpoints/ (default 0: never); "
                        "the same command resumes a killed sweep's unfinished runs from them")
    p.add_argument("--log", default=None, metavar="NAMES",
                   help="log every run under <out>/logs/<key>/: csv, tensorboard, wandb, mlflow (comma-separated)")
    p.add_argument("--reuse-records", action="append", type=existing_folder, metavar="DIR",
                   help="copy finished records of the same runs (same key) from results folder DIR, or from the "
                        "results folders inside DIR, instead of running them again (repeatable)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress display")

    p = command(sub, "report", _cmd_report, help="write report.md and CSV tables for a results folder")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true",
                   help="replace an existing report even when fewer runs are finished than it counts")

    p = command(sub, "plot", _cmd_plot,
                help="draw the figures for a results folder, or a stand-alone paper figure")
    p.add_argument("dir", nargs="?", help="results folder (with --figure: where to write, default results/figures)")
    p.add_argument("--figure", default=None, help="pau-fig1-init-fit, farhadi-fig1 or all (need no training)")

    p = command(sub, "train", _cmd_train, help="train one network with one activation and write its result record")
    p.add_argument("--model", required=True,
                   help="architecture (lenet, vgg8, lenet5, smcn, adact_convnet, mlp, ...) or an import path "
                   "to your factory (my_pkg.nets:make_net)")
    p.add_argument("--data", required=True,
                   help="data set (mnist, fashion-mnist, cifar10, fer2013, digits, image-folder, csv, ...) "
                   "or an import path to your loader (my_pkg.data:load)")
    p.add_argument("--act", default="relu", help="activation name, or act_conv=NAME,act_fc=NAME")
    p.add_argument("--data-dir", type=existing_folder, default=None,
                   help="folder with the data sets (default: $ADAPTACT_DATA)")
    p.add_argument("--epochs", type=finite_positive_float, default=1)
    p.add_argument("--steps", type=positive_int(), default=None, help="train for this many updates instead of epochs")
    p.add_argument("--batch-size", type=positive_int(), default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--lr", type=finite_positive_float, default=1e-3)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--selection", default="final", choices=["final", "best_test", "posthoc"])
    p.add_argument("--act-option", action="append", metavar="KEY=VALUE", help="option for every unit")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="option for the architecture")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="option for the data loader")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="any other RunSpec field")
    p.add_argument("--threads", type=positive_int(1024), default=1, help="torch threads (part of the run's identity)")
    p.add_argument("--out", default=None, help="where to write the JSON record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--record-every", type=positive_int(), default=100,
                   help="record the activation parameters every N steps (default 100; part of the run's identity)")
    p.add_argument("--checkpoint-steps", type=_non_negative_int, default=1000,
                   help="save a resumable checkpoint beside the record (<out>.ckpt/) every N steps (default 1000, "
                        "0: never); the same command resumes a killed run from it")
    p.add_argument("--save-model", default=None, metavar="PATH",
                   help="keep the trained weights with their spec (*.safetensors, else torch.save); "
                        "load them back with adaptact.train.load_trained(PATH)")
    p.add_argument("--log", default="csv", metavar="NAMES",
                   help="loggers, comma-separated: csv (default), tensorboard, wandb, mlflow, or none")
    p.add_argument("--log-dir", default=None, help="folder of the logs (default: <out>.logs/ beside the record)")

    from adaptact.bench import add_options

    p = command(sub, "bench", _cmd_bench,
                help="time every trainable unit against native ReLU (as benchmarks/units.py)")
    add_options(p)
    return parser


def _user_error_status(err: BaseException) -> int | None:
    """The exit status of a user error (see the module docstring), or None for a bug."""
    if isinstance(err, KeyboardInterrupt):
        return 130
    if isinstance(err, ValueError):
        return 2
    if isinstance(err, ModuleNotFoundError):
        return 1 if err.name and err.name.split(".")[0] != "adaptact" else None
    dispatch = sys.modules.get("adaptact.kernels.dispatch")  # not imported: the error cannot be one of its
    if isinstance(err, OSError) or (dispatch is not None and isinstance(err, dispatch.KernelUnavailable)):
        return 1
    return None


def _message(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    if isinstance(err, ModuleNotFoundError):
        top = err.name.split(".")[0]
        extra = OPTIONAL_PACKAGES.get(top)
        return f"needs the package {top!r}: pip install " + (f"'adaptact[{extra}]'" if extra else top)
    return _one_line(str(err)) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (user errors: one line on stderr, see the module docstring)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as done:  # --help, or argparse refused an argument (one line already printed)
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    prog = getattr(args, "prog", parser.prog)
    try:
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except BaseException as err:  # noqa: BLE001 - re-raised unless it is a user error
        status = _user_error_status(err)
        if status is None or args.debug:
            raise
        print(f"{prog}: error: {_message(err)}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
