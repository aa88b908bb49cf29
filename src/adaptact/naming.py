"""Resolving a user-given name against a table of names and aliases, with one clear error for all tables."""
from __future__ import annotations

import difflib
from typing import Collection, Mapping

__all__ = ["resolve_name"]


def resolve_name(name: object, names: Collection[str], aliases: Mapping[str, str], kind: str) -> str:
    """The canonical name for ``name`` (case-insensitive; ``-`` and ``_`` as given in the tables).

    Raises:
        ValueError: ``unknown <kind> 'x'. Did you mean 'y'? Valid names: ... (aliases: a -> b, ...)``.
    """
    key = str(name).strip().lower()
    key = aliases.get(key, key)
    if key in names:
        return key
    close = difflib.get_close_matches(key, sorted(names) + sorted(aliases), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    listed = f" (aliases: {', '.join(f'{a} -> {c}' for a, c in sorted(aliases.items()))})" if aliases else ""
    raise ValueError(f"unknown {kind} {name!r}.{hint} Valid names: {', '.join(sorted(names))}{listed}")
