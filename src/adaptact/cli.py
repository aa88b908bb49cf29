"""The ``adaptact`` command line."""
from __future__ import annotations

import argparse
import sys


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from adaptact.registry import entry, list_activations

    table = Table(title="registered activations")
    for col in ("name", "family", "trainable", "default sharing", "aliases", "formula"):
        table.add_column(col)
    for name in list_activations(trainable=True if args.trainable else None):
        e = entry(name)
        table.add_row(e.name, e.family, "yes" if e.trainable else "", e.granularity, " ".join(e.aliases), e.summary)
    Console().print(table)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from adaptact.demo import DEFAULT_UNITS, run_demo

    run_demo(units=args.units or DEFAULT_UNITS, out=args.out, epochs=args.epochs)
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
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("demo", help="train a small MLP on scikit-learn's digits with several units")
    p.add_argument("--units", nargs="+", help="activation names (default: relu and seven trainable units)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--out", default="out/demo", help="folder for the picture")
    p.set_defaults(func=_cmd_demo)

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
