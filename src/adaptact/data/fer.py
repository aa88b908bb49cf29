"""FER-2013 facial expressions (48x48 grey, 7 classes): the original ``fer2013.csv`` or image folders.

- ``fer2013.csv`` (Kaggle "Challenges in Representation Learning: Facial Expression
  Recognition Challenge"): columns ``emotion,pixels,Usage``; ``pixels`` holds 2304
  space-separated values 0..255, rows top to bottom; ``Usage`` is ``Training`` (28,709),
  ``PublicTest`` (3,589) or ``PrivateTest`` (3,589). Rows keep file order.
- Image folders ``{train,test}/<emotion>/*.jpg`` (the Kaggle image-folder release; extracted or a
  tar archive), read by :mod:`adaptact.data.folders`; the file-name prefix (``Training_``,
  ``PublicTest_``, ``PrivateTest_``) gives the Usage.

Labels follow the standard order of the CSV: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad,
5 surprise, 6 neutral. Splits (``split=``): ``"released"`` (train = Training, test =
PublicTest + PrivateTest, 7,178), ``"public"`` / ``"private"`` (test = that half only), or
``"train-80-20"`` (the AdAct paper: ignore the released test images and hold out a seeded
random 20 % of the Training images as test: 22,967 / 5,742).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.data.cache import cached
from adaptact.data.errors import DataError, missing_files
from adaptact.data.folders import is_archive, read_image_folders
from adaptact.data.record import RawData
from adaptact.data.splits import holdout, seeded

__all__ = ["FER_CLASSES", "FER_SPLITS", "read_fer2013", "read_fer_csv"]

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FER_SPLITS = ("released", "public", "private", "train-80-20")
USAGES = ("Training", "PublicTest", "PrivateTest")
SIDE = 48


def _parse_csv(path: Path) -> dict:
    text = path.read_bytes().decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if not {"emotion", "pixels", "Usage"} <= set(header):
        raise DataError(f"{path}: expected the columns emotion,pixels,Usage, found {header}")
    col = {name: header.index(name) for name in ("emotion", "pixels", "Usage")}
    images, labels, usages = [], [], []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            label, usage = int(row[col["emotion"]]), row[col["Usage"]].strip()
            pixels = np.fromstring(row[col["pixels"]], dtype=np.int32, sep=" ")
        except (ValueError, IndexError) as e:
            raise DataError(f"{path}, line {line}: cannot parse the row ({e})") from e
        if pixels.size != SIDE * SIDE or pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"{path}, line {line}: expected {SIDE * SIDE} pixel values in 0..255, got {pixels.size}")
        if not 0 <= label < len(FER_CLASSES) or usage not in USAGES:
            raise DataError(f"{path}, line {line}: emotion {label} or Usage {usage!r} not recognised")
        images.append(pixels.astype(np.uint8))
        labels.append(label)
        usages.append(USAGES.index(usage))
    if not images:
        raise DataError(f"{path}: no data rows")
    return {
        "images": torch.from_numpy(np.stack(images).reshape(-1, 1, SIDE, SIDE)),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "usage": torch.tensor(usages, dtype=torch.int64),
    }


def read_fer_csv(path: str | Path, cache_dir: str | Path | None | bool = None) -> tuple[dict, str]:
    """Parse ``fer2013.csv``: ``({"images": uint8 (N,1,48,48), "labels", "usage": index into USAGES}, cache status)``.

    Usage indices: 0 Training, 1 PublicTest, 2 PrivateTest (:data:`USAGES`); -1 where unknown (folders only).
    """
    path = Path(path)
    return cached("fer2013-csv", [path], lambda: _parse_csv(path), cache_dir)


def _usage_of(name: str) -> int:
    prefix = name.split("_", 1)[0]
    return USAGES.index(prefix) if prefix in USAGES else -1


def _from_folders(source: Path, cache_dir) -> tuple[dict, str]:
    read = read_image_folders(source, mode="L", classes=FER_CLASSES, cache_dir=cache_dir)
    parts = [read["train"], read["test"]]
    return {
        "images": torch.cat([p["images"] for p in parts]),
        "labels": torch.cat([p["labels"] for p in parts]),
        "usage": torch.tensor([_usage_of(n) for p in parts for n in p["names"]], dtype=torch.int64),
        "is_test": torch.arange(sum(len(p["labels"]) for p in parts)) >= len(parts[0]["labels"]),
    }, read["cache"]


def _locate(folders: Sequence[Path]) -> Path:
    looked = []
    for folder in folders:
        if (folder / "fer2013.csv").is_file():
            return folder / "fer2013.csv"
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return folder
        archives = sorted(p for p in folder.iterdir() if p.is_file() and is_archive(p))
        if len(archives) == 1:
            return archives[0]
        if len(archives) > 1:
            raise DataError(f"{folder}: several archives {[a.name for a in archives]}; keep one FER-2013 archive")
        looked += [folder / "fer2013.csv", folder / "train/<emotion>/*.jpg", folder / "*.tar.gz (image folders)"]
    raise missing_files("FER-2013", looked)


def read_fer2013(folders: Sequence[Path], *, split: str = "released", split_seed: int = 0,
                 cache_dir: str | Path | None | bool = None) -> RawData:
    """Read FER-2013 from ``fer2013.csv`` or image folders (module docstring) and form ``split``.

    Args:
        folders: where to look, in order.
        split: one of :data:`FER_SPLITS`.
        split_seed: seeds the 80/20 hold-out of ``"train-80-20"`` (fixed across runs by default).
        cache_dir: cache for the decoded images (see :mod:`adaptact.data.cache`).
    """
    if split not in FER_SPLITS:
        raise ValueError(f"split must be one of {', '.join(FER_SPLITS)}; got {split!r}")
    source = _locate(folders)
    data, status = read_fer_csv(source, cache_dir) if source.suffix == ".csv" else _from_folders(source, cache_dir)
    usage = data["usage"]
    is_test = data.get("is_test", usage != 0)  # folders: by folder; CSV: by Usage
    counts = {u: int((usage == i).sum()) for i, u in enumerate(USAGES)}
    train = torch.nonzero(~is_test).flatten()
    if split == "train-80-20":
        held_out = int(round(0.2 * len(train)))
        keep, held = holdout(len(train), held_out, how="random", generator=seeded(split_seed, "split"))
        train, test = train[keep], train[held]
    elif split == "released":
        test = torch.nonzero(is_test).flatten()
    else:
        wanted = USAGES.index("PublicTest" if split == "public" else "PrivateTest")
        if bool((usage[is_test] < 0).any()):
            raise DataError(f"{source}: split={split!r} needs the Usage of every test image, but some test file names "
                            "lack the PublicTest_/PrivateTest_ prefix")
        test = torch.nonzero(is_test & (usage == wanted)).flatten()
    images, labels = data["images"], data["labels"]
    return RawData(images[train], labels[train], images[test], labels[test], list(FER_CLASSES),
                   files=[str(source)],
                   meta={"format": "csv" if source.suffix == ".csv" else "image folders", "cache": status,
                         "split": split, "split_seed": split_seed, "usage_counts": counts})
