"""The ``adaptact`` command line."""
from __future__ import annotations

import argparse
import json
import sys


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
    from adaptact.data import DataError, fetch

    try:
        files = fetch(args.name, args.data_dir, optional=args.optional, overwrite=args.overwrite)
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for f in files:
        check = "verified" if f["verified"] else "NOT verified (no published checksum)"
        print(f"{f['status']:>10}  {f['file']}  ({check})")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from rich.console import Console

    from adaptact.experiments import reproduce
    from adaptact.report import write_figures, write_report

    console = Console()
    overrides = _pairs(args.set, "--set")
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.device:
        overrides["device"] = args.device
    out = args.out or f"results/{args.name}-{args.profile}"
    try:
        summary = reproduce(args.name, args.profile, seeds=args.seeds, out=out, engine=args.engine,
                            workers=args.workers, progress=not args.quiet, overrides=overrides)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    console.print(f"{summary.ran} run(s) done now, {summary.skipped} already recorded, {summary.failed} failed, "
                  f"{summary.seconds / 60:.1f} min")
    for what, why in summary.unavailable.items():
        console.print(f"[yellow]not run:[/yellow] {what}: {why}")
    if summary.waiting:
        console.print(f"[yellow]{len(summary.waiting)} derived run(s) could not be built (their source runs failed)")
    paths = write_report(out) + (write_figures(out) if not args.no_figures else [])
    print(paths[0].read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in paths))
    return 1 if summary.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from adaptact.report import write_report

    paths = write_report(args.dir)
    print(paths[0].read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in paths))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from adaptact.report import write_figures
    from adaptact.report.paper_figures import PAPER_FIGURES, draw_paper_figure

    if args.figure:
        names = sorted(PAPER_FIGURES) if args.figure == "all" else [args.figure]
        paths = [p for name in names for p in draw_paper_figure(name, args.dir or "results/figures")]
    elif args.dir:
        paths = write_figures(args.dir)
    else:
        print("give a results folder, or --figure NAME (stand-alone figures: " + ", ".join(sorted(PAPER_FIGURES))
              + ", all)", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _value(text: str):
    """Parse a command-line value: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str] | None, option: str) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{option} expects KEY=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


def _act(text: str):
    """``pau``, or ``act_conv=agumbel,act_fc=relu`` for models with several activation arguments."""
    if "=" not in text:
        return text
    return dict(part.split("=", 1) for part in text.split(","))


def _cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from adaptact.train import RunSpec, run

    console = Console()
    spec = RunSpec(
        model=args.model, act=_act(args.act), data=args.data, data_dir=args.data_dir,
        epochs=args.epochs, steps=args.steps, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, seed=args.seed, device=args.device, selection=args.selection,
        act_options=_pairs(args.act_option, "--act-option"), model_options=_pairs(args.model_option, "--model-option"),
        data_options=_pairs(args.data_option, "--data-option"), progress=not args.quiet,
    )
    try:
        spec = RunSpec.from_dict({**spec.to_dict(), **_pairs(args.set, "--set")})
        spec.validate()
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    record = run(spec)
    out = args.out or f"runs/train/{spec.model}-{spec.data}-{record.key}.json"
    record.save(out)
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
    console.print(f"record written to {out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from adaptact.bench import run

    run(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptact", description="trainable activation functions for PyTorch")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered activations")
    p.add_argument("--trainable", action="store_true", help="only the trainable ones")
    p.add_argument("--experiments", action="store_true", help="list the experiments instead")
    p.add_argument("--datasets", action="store_true", help="list the data sets instead")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("data", help="data sets: download the official release files")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("fetch", help="download and verify a data set's official files into --data-dir")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None, help="target folder (default: $ADAPTACT_DATA)")
    q.add_argument("--optional", action="store_true", help="also the optional files (SVHN extra)")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_cmd_data_fetch)

    p = sub.add_parser("reproduce", help="re-run a paper's comparison (resumable), then write its report and figures")
    p.add_argument("name", help="experiment id (adaptact list --experiments)")
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the profile's)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: one per CPU core)")
    p.add_argument("--out", default=None, help="results folder (default results/NAME-PROFILE)")
    p.add_argument("--data-dir", default=None, help="folder with the data sets (default: $ADAPTACT_DATA)")
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="RunSpec field for every run")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("report", help="write report.md and CSV tables for a results folder")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("plot", help="draw the figures for a results folder, or a stand-alone paper figure")
    p.add_argument("dir", nargs="?", help="results folder (with --figure: where to write, default results/figures)")
    p.add_argument("--figure", default=None, help="pau-fig1-init-fit, farhadi-fig1 or all (need no training)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("train", help="train one network with one activation and write its result record")
    p.add_argument("--model", required=True, help="architecture (lenet, vgg8, lenet5, smcn, adact_convnet, mlp, ...)")
    p.add_argument("--data", required=True, help="data set (mnist, fashion-mnist, cifar10, fer2013, digits, ...)")
    p.add_argument("--act", default="relu", help="activation name, or act_conv=NAME,act_fc=NAME")
    p.add_argument("--data-dir", default=None, help="folder with the data sets (default: $ADAPTACT_DATA)")
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--steps", type=int, default=None, help="train for this many updates instead of epochs")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--selection", default="final", choices=["final", "best_test", "posthoc"])
    p.add_argument("--act-option", action="append", metavar="KEY=VALUE", help="option for every unit")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="option for the architecture")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="option for the data loader")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="any other RunSpec field")
    p.add_argument("--out", default=None, help="where to write the JSON record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    from adaptact.bench import add_options

    p = sub.add_parser("bench", help="time every trainable unit against native ReLU (as benchmarks/units.py)")
    add_options(p)
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
