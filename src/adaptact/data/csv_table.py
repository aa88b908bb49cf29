"""A table of numbers in a CSV file as a classification data set: one row per example, one column the label.

The first line names the columns. The label column (``label=``, default ``"label"``, else the last
column) may hold integers or class names (sorted to give label indices); every other column must be
a number and is one input feature. Test examples come from ``test=`` (same columns), else a seeded
random ``test_fraction`` of ``train=`` is held out (``split_seed``, fixed by default so
every run sees the same split).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from adaptact.data.errors import DataError
from adaptact.data.record import RawData

__all__ = ["read_csv_table"]


def _read(path: Path, label: str | None) -> tuple[list[str], np.ndarray, list[str]]:
    """(feature names, features (N, F) float32, label strings) of one CSV file."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise DataError(f"{path}: cannot read the CSV file ({e})") from e
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header line and at least one example")
    header = [h.strip() for h in rows[0]]
    column = label if label is not None else ("label" if "label" in header else header[-1])
    if column not in header:
        raise DataError(f"{path}: no label column {column!r}; columns are {header}")
    at = header.index(column)
    features, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
        try:
            features.append([float(v) for i, v in enumerate(row) if i != at])
        except ValueError as e:
            raise DataError(f"{path}, line {line}: a feature is not a number ({e})") from None
        labels.append(row[at].strip())
    return [h for i, h in enumerate(header) if i != at], np.asarray(features, dtype=np.float32), labels


def _classes(labels: list[str]) -> list[str]:
    """The distinct labels in label order: numerically if they are all integers, else alphabetically."""
    unique = set(labels)
    if all(v.lstrip("-").isdigit() for v in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def read_csv_table(folders, *, train: str = "train.csv", test: str | None = None, label: str | None = None,
                   test_fraction: float = 0.2, split_seed: int = 0) -> RawData:
    """Read ``train`` (and ``test``) CSV files, paths absolute or relative to the data directory.

    Raises:
        DataError: a file is missing or malformed (named with its line), or the two files' columns differ.
        ValueError: ``test_fraction`` outside (0, 1) when it is needed.
    """
    root = Path(folders[-1])
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in [train] + ([test] if test else [])]
    for p in paths:
        if not p.is_file():
            raise DataError(f"no CSV file {p}")
    names, x, y = _read(paths[0], label)
    if test:
        test_names, x_test, y_test = _read(paths[1], label)
        if test_names != names:
            raise DataError(f"{paths[1]}: columns {test_names} differ from {paths[0]}'s {names}")
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1) when no test file is given, got {test_fraction}")
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(split_seed)).numpy()
        k = max(1, int(round(test_fraction * len(y))))
        x, x_test = x[order[k:]], x[order[:k]]
        y, y_test = [y[i] for i in order[k:]], [y[i] for i in order[:k]]
    classes = _classes(y + y_test)
    index = {c: i for i, c in enumerate(classes)}
    as_labels = lambda values: torch.tensor([index[v] for v in values], dtype=torch.int64)  # noqa: E731
    return RawData(torch.from_numpy(x), as_labels(y), torch.from_numpy(x_test), as_labels(y_test), classes,
                   kind="vector", files=[str(p) for p in paths], meta={"features": names}, scale=None)
