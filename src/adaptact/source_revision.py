"""Which code produced a result: the git commit of the adaptact source tree, when it is a git checkout.

Run records are keyed by their spec, not by the code (a bug fix would otherwise orphan every finished
run); :func:`source_revision` is stored beside them so that records made by different code under the
same key can always be told apart.
"""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional

__all__ = ["source_revision"]


@lru_cache(maxsize=None)
def source_revision(folder: Optional[str] = None) -> Optional[dict]:
    """``{"commit": <40 hex>, "modified": <bool>}`` for the git checkout holding ``folder`` (default: this
    package), ``modified`` when tracked files differ from the commit; None outside a git checkout or
    without git. Computed once per process."""
    where = folder or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no", "--", "."],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = commit.stdout.strip()
    if len(sha) != 40:
        return None
    return {"commit": sha, "modified": bool(status.stdout.strip()) if status.returncode == 0 else None}
