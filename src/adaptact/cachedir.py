"""The one cache folder of adaptact: ``$ADAPTACT_CACHE``, else ``$XDG_CACHE_HOME/adaptact``, else ``~/.cache/adaptact``.

Each user of the cache keeps to its own sub-folder (``data/`` for decoded data sets,
``kernels/`` for built C kernels).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_CACHE", "cache_home"]

ENV_CACHE = "ADAPTACT_CACHE"


def cache_home(sub: str) -> Path:
    """``<cache root>/<sub>`` (not created here)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser() / sub
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "adaptact" / sub
