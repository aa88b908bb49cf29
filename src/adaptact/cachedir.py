"""The one cache folder of adaptact: ``$ADAPTACT_CACHE``, else ``$XDG_CACHE_HOME/adaptact``, else ``~/.cache/adaptact``.

Each user of the cache keeps to its own sub-folder (``data/`` for decoded data sets,
``kernels/`` for built C kernels).

A folder that holds code this process runs (built kernels) must be private:
:func:`private_folder` uses a folder only when it is owned by the current user
and writable by no one else, since anyone who can write there can plant a
library that then runs inside this process.
"""
from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["ENV_CACHE", "cache_home", "folder_unsafe", "private_folder", "write_bytes_atomic"]

ENV_CACHE = "ADAPTACT_CACHE"

log = logging.getLogger("adaptact.cache")


def cache_home(sub: str) -> Path:
    """``<cache root>/<sub>`` (not created here)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser() / sub
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "adaptact" / sub


def _current_uid() -> Optional[int]:
    return os.getuid() if hasattr(os, "getuid") else None


def folder_unsafe(folder: Path) -> Optional[str]:
    """Why ``folder`` may not hold code this process runs, or ``None`` when it may.

    Safe means: an existing directory (after following links), owned by the
    current user, not writable by its group or by others, and writable by us.
    (On systems without user ids only the last two are checked.)
    """
    try:
        st = os.stat(folder)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    uid = _current_uid()
    if uid is not None and st.st_uid != uid:
        return f"is owned by user id {st.st_uid}, not by you ({uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "others" if st.st_mode & stat.S_IWOTH else "its group"
        return f"is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def _make(folder: Path) -> None:
    """Create ``folder`` (and its parents); a leaf made here is private (mode 700)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass


def private_folder(candidates: Sequence[Path], prefix: str) -> Path:
    """The first of ``candidates`` that is (or can be made) a safe folder, else a fresh private one.

    A candidate that exists but is unsafe (see :func:`folder_unsafe`) is never
    used and is named in one warning on the ``adaptact.cache`` logger; a fresh
    folder is made by :func:`tempfile.mkdtemp` (mode 700, a random name no one
    can pre-create) with ``prefix``, and lasts for this process only.
    """
    for folder in candidates:
        try:
            _make(folder)
        except OSError:
            continue
        reason = folder_unsafe(folder)
        if reason is None:
            return folder
        if reason != "is not writable":
            log.warning("adaptact: not using the cache folder %s: it %s; using a private temporary folder",
                        folder, reason)
    return Path(tempfile.mkdtemp(prefix=prefix))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Readers see the old file or the whole new one, never a part.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
