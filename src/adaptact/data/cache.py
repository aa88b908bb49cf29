"""A disk cache for decoded data sets: tensors saved with ``torch.save``, keyed by the source files.

The key hashes each source file's resolved path, size and modification time (and a
format tag), so a changed or moved file misses the cache. Writes are atomic
(temporary file in the same folder, then ``os.replace``), so a crash or two
processes decoding at once never leave a half-written entry. A cache entry that
cannot be read is decoded again and overwritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from adaptact.data.paths import cache_root

__all__ = ["cache_key", "cached"]

FORMAT_VERSION = 1


def cache_key(tag: str, sources: Sequence[Path]) -> str:
    """A hex digest of ``tag`` and each source's resolved path, size and ``mtime_ns``."""
    stats = []
    for path in sources:
        st = Path(path).stat()
        stats.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns])
    blob = json.dumps([FORMAT_VERSION, tag, stats]).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _write_atomic(obj: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(
    tag: str,
    sources: Sequence[Path],
    build: Callable[[], dict[str, Any]],
    cache_dir: str | Path | None | bool = None,
) -> tuple[dict[str, Any], str]:
    """``build()``'s result, read from the cache when the sources are unchanged.

    Args:
        tag: names the kind of entry (e.g. ``"folders-RGB"``); part of the key and the file name.
        sources: the files the result is decoded from.
        build: returns a dict of tensors / lists / strings / numbers (``torch.load(weights_only=True)`` safe).
        cache_dir: the cache folder (see :func:`adaptact.data.paths.cache_root`); ``False`` disables caching.

    Returns:
        ``(result, status)`` with status ``"hit"``, ``"miss"`` (decoded and written),
        ``"off"`` (caching disabled) or ``"unwritable"`` (decoded, the cache folder could not be written).
    """
    if cache_dir is False:
        return build(), "off"
    target = cache_root(None if cache_dir is True else cache_dir) / f"{tag}-{cache_key(tag, sources)}.pt"
    if target.is_file():
        try:
            # memory-mapped: the bytes are read once, when the caller converts or copies them
            return torch.load(target, weights_only=True, mmap=True), "hit"
        except Exception:  # a damaged entry is rebuilt below
            pass
    result = build()
    try:
        _write_atomic(result, target)
    except OSError:
        return result, "unwritable"
    return result, "miss"
