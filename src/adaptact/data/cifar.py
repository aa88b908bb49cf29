"""CIFAR-10 and CIFAR-100: the python-pickle releases (folder or tarball) and image-folder copies.

Pickle release (https://www.cs.toronto.edu/~kriz/cifar.html): CIFAR-10 has
``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and ``batches.meta``; CIFAR-100 has
``cifar-100-python/train``, ``test`` and ``meta``. Each batch is a pickled dict with
``data`` (uint8 ``(N, 3072)``: 1024 red, 1024 green, 1024 blue values, rows top to bottom)
and ``labels`` (CIFAR-10) or ``fine_labels`` / ``coarse_labels`` (CIFAR-100). The
pickles are read with an unpickler that only admits numpy arrays and builtins, from the
extracted folder or straight from ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``.
Image-folder copies (``train/<class>/*.jpg``, extracted or as a tar archive, like the
local JPEG CIFAR-10) are read by :mod:`adaptact.data.folders`.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError, missing_files
from adaptact.data.folders import is_archive, read_image_folders
from adaptact.data.record import RawData

__all__ = ["CIFAR10_CLASSES", "read_cifar", "read_cifar_pickles"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
RELEASES = {
    10: {"folder": "cifar-10-batches-py", "tarball": "cifar-10-python.tar.gz",
         "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"], "meta": "batches.meta"},
    100: {"folder": "cifar-100-python", "tarball": "cifar-100-python.tar.gz",
          "train": ["train"], "test": ["test"], "meta": "meta"},
}
_SAFE = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"),
}
_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


class _SafeUnpickler(pickle.Unpickler):
    """Admits only numpy arrays/dtypes and builtins: a data file cannot run code."""

    def find_class(self, module: str, name: str):
        canon = module.replace("numpy.core", "numpy._core")  # numpy 1 and 2 spellings of the same thing
        if (canon, name) not in _SAFE:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(canon if _NUMPY2 else canon.replace("numpy._core", "numpy.core"), name)


def _unpickle(blob: bytes, name: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # any unpickling failure means a damaged or foreign file
        raise DataError(f"{name}: not a CIFAR python pickle ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataError(f"{name}: not a CIFAR python pickle (a {type(obj).__name__}, expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _members(source: Path, release: dict) -> dict[str, tuple[bytes, str]]:
    """The wanted pickles as ``name -> (bytes, where)`` from a folder or a tarball."""
    wanted = release["train"] + release["test"] + [release["meta"]]
    if source.is_dir():
        return {n: ((source / n).read_bytes(), str(source / n)) for n in wanted if (source / n).is_file()}
    found = {}
    try:
        with tarfile.open(source, "r|*") as tar:
            for m in tar:
                parts = m.name.split("/")
                if m.isfile() and parts[-1] in wanted and (len(parts) < 2 or parts[-2] == release["folder"]):
                    found[parts[-1]] = (tar.extractfile(m).read(), f"{source}:{m.name}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{source}: cannot read the archive ({e})") from e
    return found


def _names(value) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


def read_cifar_pickles(source: str | Path, variant: int = 10, *, label_mode: str = "fine") -> RawData:
    """Read a CIFAR python-pickle release from its extracted folder or its tarball.

    Args:
        source: ``cifar-10-batches-py`` / ``cifar-100-python`` folder, or the ``.tar.gz`` release.
        variant: 10 or 100.
        label_mode: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        :class:`RawData` with uint8 images ``(N, 3, 32, 32)`` in release order (50,000 / 10,000).
    """
    release, source = RELEASES[variant], Path(source)
    if label_mode not in ("fine", "coarse") or (variant == 10 and label_mode != "fine"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse' (CIFAR-100 only), got {label_mode!r}")
    members = _members(source, release)
    absent = [n for n in release["train"] + release["test"] if n not in members]
    if absent:
        raise missing_files(f"CIFAR-{variant} pickle release", [f"{source}/{release['folder']}/{n}" if not
                            source.is_dir() else source / n for n in absent])
    key = "labels" if variant == 10 else f"{label_mode}_labels"
    splits = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for n in release[split]:
            blob, where = members[n]
            batch = _unpickle(blob, where)
            if "data" not in batch or key not in batch:
                raise DataError(f"{where}: CIFAR batch without 'data' and '{key}' entries")
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(batch[key]):
                raise DataError(f"{where}: expected data (N, 3072) with N labels, got {data.shape} "
                                f"and {len(batch[key])} labels")
            xs.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
            ys.append(torch.as_tensor(np.asarray(batch[key], dtype=np.int64)))
        splits[split] = (torch.cat(xs), torch.cat(ys))
    if release["meta"] in members:
        meta = _unpickle(*members[release["meta"]])
        classes = _names(meta["label_names"] if variant == 10 else meta[f"{label_mode}_label_names"])
    elif variant == 10:
        classes = list(CIFAR10_CLASSES)
    else:
        raise missing_files("CIFAR-100 class names", [f"{source}/{release['meta']}"])
    files = sorted(where for _, where in members.values()) if source.is_dir() else [str(source)]
    return RawData(splits["train"][0], splits["train"][1], splits["test"][0], splits["test"][1], classes,
                   files=files, meta={"format": "python pickle", "order": "release order", "label_mode": label_mode})


def _image_archives(folder: Path, release: dict) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_archive(p) and p.name != release["tarball"])


def read_cifar(folders: Sequence[Path], variant: int = 10, *, label_mode: str = "fine",
               cache_dir: str | Path | None | bool = None) -> RawData:
    """Read CIFAR-10/100 from the first folder that holds a known form of it.

    Tried in each folder, in order: the extracted pickle folder (``cifar-10-batches-py`` /
    ``cifar-100-python``, or the folder itself if it holds the batches), the pickle tarball,
    extracted ``train/`` + ``test/`` image folders, one tar archive of image folders.
    Image folders give classes in sorted folder-name order (for CIFAR-10 that is the
    standard order) and only fine labels.
    """
    release = RELEASES[variant]
    looked = []
    for folder in folders:
        for candidate in (folder / release["folder"], folder):
            if (candidate / release["train"][0]).is_file():
                return read_cifar_pickles(candidate, variant, label_mode=label_mode)
        if (folder / release["tarball"]).is_file():
            return read_cifar_pickles(folder / release["tarball"], variant, label_mode=label_mode)
        archives = _image_archives(folder, release)
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            source = folder
        elif len(archives) == 1:
            source = archives[0]
        elif len(archives) > 1:
            raise DataError(f"{folder}: several archives {[a.name for a in archives]}; keep one CIFAR-{variant} "
                            "image archive there or point data_dir at a folder holding only it")
        else:
            looked += [folder / release["folder"], folder / release["tarball"], folder / "train/<class>/*.jpg",
                       folder / "*.tar.gz (image folders)"]
            continue
        if label_mode != "fine":
            raise DataError(f"{source}: image folders have no coarse CIFAR-100 labels; use the pickle release")
        read = read_image_folders(source, mode="RGB", cache_dir=cache_dir)
        return RawData(read["train"]["images"], read["train"]["labels"], read["test"]["images"],
                       read["test"]["labels"], read["classes"], files=read["files"],
                       meta={"format": "image folders", "cache": read["cache"], "label_mode": "fine",
                             "order": "classes interleaved round-robin, sorted file names within a class"})
    raise missing_files(f"CIFAR-{variant}", looked)
