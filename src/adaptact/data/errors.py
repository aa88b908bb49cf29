"""The one error type of :mod:`adaptact.data`, and the wording of "file not found" messages."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

__all__ = ["DataError", "missing_files"]

WHERE_HINT = "point the loader at its folder with data_dir= (CLI: --data-dir) or the ADAPTACT_DATA variable"


class DataError(ValueError):
    """A data set's files are missing, unreadable or not in the expected format.

    The message names the file(s) involved; :func:`adaptact.data.load` adds how to
    obtain the data set.
    """


def missing_files(what: str, looked_for: Iterable[str | Path], hint: str = "") -> DataError:
    """A :class:`DataError` saying that none of ``looked_for`` exists (each path on its own line)."""
    paths = "\n".join(f"  {p}" for p in looked_for)
    text = f"{what}: file not found; looked for\n{paths}"
    return DataError(text + (f"\n{hint}" if hint else ""))
