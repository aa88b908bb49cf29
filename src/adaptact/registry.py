"""The registry of activation names: name -> factory, with aliases and clear errors.

Every unit file registers its names at import; :func:`create` builds a module
from a name and keyword options, checking the options against the factory's
signature so that a misspelt option is reported by name.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from adaptact.naming import resolve_name

__all__ = ["Entry", "create", "entry", "list_activations", "register"]

GRANULARITIES = ("layer", "channel")


@dataclass(frozen=True)
class Entry:
    """One registered activation.

    Attributes:
        name: canonical name.
        factory: callable building the module from keyword options.
        family: which family of :mod:`adaptact.functional` computes it
            (``fixed``, ``scaled``, ``blend``, ``cdf``, ``rational``, ``subnet``, ``baseline``).
        trainable: whether the module has trainable activation parameters.
        granularity: the source paper's default parameter sharing when a model
            knows the channel count: ``layer`` (one set per layer) or
            ``channel`` (one set per channel / neuron).
        summary: one line for listings.
        defaults: options bound to this name (e.g. ``base="relu"`` for ``scaled_relu``).
        aliases: other names for the same entry.
    """

    name: str
    factory: Callable[..., nn.Module]
    family: str
    trainable: bool
    granularity: str = "layer"
    summary: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def options(self) -> list[str]:
        """The keyword options the factory accepts (beyond the bound defaults)."""
        params = inspect.signature(self.factory).parameters.values()
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


_ENTRIES: dict[str, Entry] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(
    name: str,
    factory: Callable[..., nn.Module],
    *,
    family: str,
    trainable: bool,
    granularity: str = "layer",
    summary: str = "",
    aliases: tuple[str, ...] = (),
    **defaults: Any,
) -> Entry:
    """Register ``factory`` under ``name`` (and ``aliases``); ``defaults`` are options bound to the name."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    key = _key(name)
    if key in _ENTRIES or key in _ALIASES:
        raise ValueError(f"activation {name!r} is already registered")
    e = Entry(key, factory, family, trainable, granularity, summary, dict(defaults), tuple(map(_key, aliases)))
    _ENTRIES[key] = e
    for alias in e.aliases:
        if alias in _ENTRIES or alias in _ALIASES:
            raise ValueError(f"alias {alias!r} is already registered")
        _ALIASES[alias] = key
    return e


def _ensure_loaded() -> None:
    # the unit files register themselves on import
    import adaptact.units  # noqa: F401


def entry(name: str) -> Entry:
    """The registry entry for ``name`` (canonical or alias); unknown names list the choices."""
    _ensure_loaded()
    if not isinstance(name, str):
        raise TypeError(f"an activation name must be a string, got {type(name).__name__}")
    return _ENTRIES[resolve_name(_key(name), _ENTRIES, _ALIASES, "activation")]


def list_activations(
    *, trainable: bool | None = None, family: str | None = None, aliases: bool = False
) -> list[str]:
    """Every registered name, sorted; filter by ``trainable`` and ``family``; ``aliases=True`` adds aliases."""
    _ensure_loaded()
    out = []
    for e in _ENTRIES.values():
        if trainable is not None and e.trainable != trainable:
            continue
        if family is not None and e.family != family:
            continue
        out.append(e.name)
        if aliases:
            out.extend(e.aliases)
    return sorted(out)


def create(name: str, **options: Any) -> nn.Module:
    """Build the activation module registered as ``name`` with keyword ``options``.

    Every factory accepts ``num_features`` (``None`` = one parameter set per
    layer; an int = one per channel, dim 1; ``"lazy"`` = one per channel,
    the count taken from the first batch), ``device`` and ``dtype``. Fixed
    activations accept and ignore ``num_features`` (but ``prelu`` uses it).

    Raises:
        ValueError: unknown name (the message lists the valid names) or an
            option the activation does not have (the message names it).
    """
    e = entry(name)
    accepted = e.options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        own = [o for o in accepted if o not in e.defaults]
        raise ValueError(
            f"activation {e.name!r} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(own)}"
        )
    return e.factory(**{**e.defaults, **options})
