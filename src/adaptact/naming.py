"""Resolving a user-given name against a table of names and aliases, with one clear error for all tables;
and import paths ``package.module:attribute`` naming a user's own factory."""
from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import Any, Collection, Mapping

__all__ = ["import_object", "is_import_path", "resolve_name"]


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


def is_import_path(name: object) -> bool:
    """Whether ``name`` reads as an import path ``package.module:attribute`` (a user's factory)."""
    if not isinstance(name, str) or name.count(":") != 1:
        return False
    module, attr = name.split(":")
    return bool(module) and bool(attr) and all(p.isidentifier() for p in module.split(".") + attr.split("."))


def import_object(path: str, kind: str) -> Any:
    """The object at ``package.module:attribute`` (``attribute`` may be dotted), imported now; the current
    folder is searched after ``sys.path`` (it is added to it), as ``python -m`` does.

    Raises:
        ValueError: not an import path, the module cannot be imported, or it has no such attribute; the
            message names the path and the ``kind`` of thing wanted (``"model factory"``, ...).
    """
    if not is_import_path(path):
        raise ValueError(f"{kind} {path!r} is not an import path 'package.module:attribute'")
    module_name, attr = path.split(":")
    if os.getcwd() not in sys.path:  # as `python -m` does: the user's package in the current folder is found
        sys.path.append(os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{kind} {path!r}: cannot import module {module_name!r} ({err}); "
                         "is its folder on PYTHONPATH (or the current directory)?") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{kind} {path!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj
