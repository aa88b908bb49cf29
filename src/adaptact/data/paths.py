"""Where data and caches live: ``data_dir`` / ``ADAPTACT_DATA``, ``cache_dir`` / ``ADAPTACT_CACHE``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from adaptact.cachedir import ENV_CACHE, cache_home
from adaptact.data.errors import WHERE_HINT, DataError

__all__ = ["ENV_CACHE", "ENV_DATA", "cache_root", "candidate_folders", "data_root", "find_file"]

ENV_DATA = "ADAPTACT_DATA"


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$ADAPTACT_DATA``; it must exist.

    Raises:
        DataError: neither is set, or the folder does not exist.
    """
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_DATA) or None
    if chosen is None:
        raise DataError(f"no data directory given: {WHERE_HINT}")
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist: {WHERE_HINT}")
    return root


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The folder for cached decoded data (not created here).

    ``cache_dir`` if given; else ``$ADAPTACT_CACHE/data``; else ``$XDG_CACHE_HOME/adaptact/data``
    or ``~/.cache/adaptact/data`` (the ``data`` sub-folder keeps data apart from other caches).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return cache_home("data")


def candidate_folders(root: Path, subfolders: Sequence[str]) -> list[Path]:
    """``root/<sub>`` for each existing subfolder, then ``root`` itself (the user may name the data set's folder)."""
    found = [root / sub for sub in subfolders if (root / sub).is_dir()]
    return found + [root]


def find_file(folders: Iterable[Path], names: Iterable[str]) -> Path | None:
    """The first ``folder/name`` that is a file, trying every name in every folder in order; ``None`` if none is."""
    names = list(names)
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None
