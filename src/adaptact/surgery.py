"""Model surgery: swap activation modules for trainable units, and harden AdAct units to fixed ones.

:func:`replace_activations` finds the activation modules of a model
(PyTorch's, HuggingFace transformers', timm's: :mod:`adaptact.known_activations`),
decides for each slot whether it is a hidden-layer activation, gives every
slot and every call site its own unit (:mod:`adaptact.callsites`), picks the
feature axis of per-channel units from the layer that feeds them
(:mod:`adaptact.feature_axis`) or refuses, starts each unit as the function
it replaced where the unit can represent it, and records what it did on the
model (``model.adaptact_replacements``, a list of JSON-able dicts that
:func:`adaptact.persist.apply_replacements` replays to load a saved model).
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Iterable, Mapping, Optional

import torch
from torch import nn

from adaptact.callsites import CallSites, call_site_counts, install_reset_hook, reset_all_call_sites
from adaptact.feature_axis import producer_features
from adaptact.known_activations import KnownActivation, identify
from adaptact.layout import check_channel_dim
from adaptact.registry import Entry, create, entry

__all__ = ["MANIFEST_ATTR", "harden", "hardened_choices", "replace_activations", "replacement_report"]

ActivationSpec = str | Callable[[], nn.Module]

#: the attribute of a model holding the record of its replacements
MANIFEST_ATTR = "adaptact_replacements"
#: stands in the record for a start function that is not JSON (the replaced module itself)
REPLACED_FUNCTION = "<replaced function>"
_UNSET = object()


# ---------------------------------------------------------------------------------------------- matching


def _target_matcher(targets: Iterable[type[nn.Module] | str] | None) -> Callable[[nn.Module], bool]:
    if targets is None:
        return lambda m: identify(m) is not None
    classes = []
    for t in targets:
        if isinstance(t, str):
            if entry(t).family != "fixed":
                raise ValueError(f"targets: {t!r} is not a fixed activation; name fixed ones or pass module classes")
            classes.append(type(create(t)))
        elif isinstance(t, type) and issubclass(t, nn.Module):
            classes.append(t)
        else:
            raise ValueError(f"targets must be activation module classes or names, got {t!r}")
    matched = tuple(classes)
    return lambda m: isinstance(m, matched)


def _known(m: nn.Module) -> KnownActivation:
    return identify(m) or KnownActivation(type(m).__name__, None)


def _feeds_a_layer(parent: nn.Module, slot: str) -> bool:
    """Whether ``parent.<slot>`` sits in an ``nn.Sequential`` with a layer holding parameters after it."""
    if not isinstance(parent, nn.Sequential):
        return False
    names = list(parent._modules)
    later = [m for m in list(parent._modules.values())[names.index(slot) + 1:] if m is not None]
    return any(next(m.parameters(), None) is not None for m in later)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _slots(model: nn.Module, match: Callable[[nn.Module], bool]):
    """``(parent path, parent, slot name, child)`` for every slot holding a matching module.

    Every slot counts, also when one module object is registered at several
    (``nn.Sequential(lin, r, lin2, r)``, ``self.a = self.b = nn.ReLU()``).
    """
    for parent_path, parent in model.named_modules(remove_duplicate=True):
        if isinstance(parent, CallSites):
            continue
        for slot, child in list(parent._modules.items()):
            if child is not None and match(child):
                yield parent_path, parent, slot, child


# ---------------------------------------------------------------------------------------------- options


def _placement(model: nn.Module) -> dict[str, Any]:
    p = next(model.parameters(), None)
    if p is None:
        return {}
    return {"device": p.device, "dtype": p.dtype if p.dtype.is_floating_point else None}


def _module_as_function(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function an activation module computes, on float64 CPU tensors (for fitting a start)."""
    twin = copy.deepcopy(m).to(device="cpu", dtype=torch.float64).eval()

    def f(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return twin(x.to(torch.float64))

    return f


def _start(e: Entry, known: KnownActivation, child: nn.Module, options: dict[str, Any]) -> tuple[dict, str]:
    """Options that make a new unit start as the replaced function, and a note of what it starts as.

    Blends are weighted once they exist (:func:`_weight_on`).
    """
    from adaptact.units.scaled import SCALED_BASES

    fixed = known.fixed
    if e.family == "rational" or e.name == "slaf":
        if "init" in options:
            return {}, f"init={options['init']!r} (as asked)"
        return {"init": fixed or _module_as_function(child)}, f"fitted to {known.label}"
    if "base" in e.options() and "base" not in e.defaults and "base" not in options:
        if fixed in SCALED_BASES:
            return {"base": fixed}, f"{known.label} wrapped at identity"
        return {}, f"its default base ({known.label} is not a base it can wrap)"
    if e.name == "agumbel" and fixed == "sigmoid":
        return {}, "sigmoid (alpha=1)"
    if e.name == "swish_beta" and fixed == "silu":
        return {}, "silu (beta=1)"
    return {}, f"its own initialisation ({known.label} is not a start it has)"


def _weight_on(unit: nn.Module, known: KnownActivation) -> str:
    """Put a blend's whole weight on the replaced function where its basis holds it; say what it starts as."""
    basis, fixed, label = list(unit.basis), known.fixed, known.label
    name = fixed if fixed in basis else {"silu": "swish_beta", "swish": "swish_beta"}.get(fixed)
    if name not in basis:
        return f"its uniform blend ({label} is not in its basis)"
    if unit.normalization == "softmax":
        return f"its uniform blend (softmax weights cannot hold {label} alone)"
    weights = [1.0 if b == name else 0.0 for b in basis]
    unit.init = weights
    if not unit.is_lazy:
        unit.fill_("weight", weights)
    return f"{label} (all weight on {name})"


def _json_options(options: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in options.items():
        if k in ("device", "dtype"):
            continue
        out[k] = REPLACED_FUNCTION if callable(v) else (list(v) if isinstance(v, tuple) else v)
    return out


# ---------------------------------------------------------------------------------------------- the surgery


def replace_activations(
    model: nn.Module,
    name: ActivationSpec,
    *,
    targets: Iterable[type[nn.Module] | str] | None = None,
    share: bool = False,
    channel_dim: int | Mapping[str, int] | None = None,
    include_gates: bool = False,
    start: str = "replaced",
    verbose: bool = False,
    **options: Any,
) -> nn.Module:
    """Swap the activation modules of ``model`` for new units, in place, and return the model.

    Args:
        model: any ``nn.Module``.
        name: a registered activation name (see :func:`adaptact.list_activations`)
            or a callable returning a fresh module.
        targets: which modules to swap: classes (``nn.ReLU``) or fixed names
            (``"relu"``). Default: every activation module of PyTorch,
            HuggingFace transformers and timm (found by class, see
            :mod:`adaptact.known_activations`) that is a hidden-layer activation.
        share: ``False`` (default): every slot and every call site gets its own
            unit (a module called three times in its parent's ``forward``
            becomes three units). ``True``: one unit per module object, used
            wherever that object was.
        channel_dim: the feature axis of per-channel units: an int for all, or
            a mapping from module path to int. Default: chosen from the layer
            that feeds each activation (Linear-like: last dim; conv/batch norm:
            dim 1); where the model's structure does not tell, a ``ValueError``
            names the module and asks for this option.
        include_gates: also replace sigmoid/tanh-like modules that are not
            hidden layers. By default a squashing module is replaced only when
            it sits in an ``nn.Sequential`` with a layer holding parameters
            after it; elsewhere (squeeze-excitation and GLU/LSTM-style gates, a
            pooler's tanh, a model's output sigmoid) it is kept and reported.
            Explicit ``targets`` replace every match.
        start: ``"replaced"`` (default): each unit starts as the function it
            replaced where it can represent it (PAU/SLAF fitted to it, generic
            ``scaled``/``affine`` wrapping it at identity, ABU/Mixture with all
            weight on it); ``"default"``: each unit's own initialisation.
        verbose: print the table of replacements.
        **options: passed to :func:`adaptact.create` for every new unit.
            ``num_features``: default the source paper's sharing (per channel
            for ``agumbel``, ``arelu``, ``metaneuron``, ``vaf``, ``apl``,
            ``srelu``; the count from the feeding layer, else ``"lazy"``).

    The record of what was replaced (module path, old -> new, axis, start)
    is kept in ``model.adaptact_replacements`` and printed by
    :func:`replacement_report`. A warning says when nothing, or only some of the
    activation modules, were replaced. What cannot be replaced: activations
    called as functions in ``forward`` (``F.relu(x)``), and ``maxout``, which
    changes the channel count (build it into the model instead).
    """
    if start not in ("replaced", "default"):
        raise ValueError(f"start must be 'replaced' or 'default', got {start!r}")
    if not isinstance(share, bool):
        raise ValueError(f"share must be True or False, got {share!r}")
    if isinstance(channel_dim, int):
        check_channel_dim(channel_dim)
    elif channel_dim is not None and not isinstance(channel_dim, Mapping):
        raise ValueError(f"channel_dim must be an int, a mapping from module path to int, or None; got {channel_dim!r}")
    e: Optional[Entry] = None
    if isinstance(name, str):
        e = entry(name)
        if e.name == "maxout":
            raise ValueError(
                "maxout changes the number of channels, so it cannot replace an activation in place; "
                "build the model with act='maxout' (adaptact.models) so the layer before is widened"
            )
        if "channel_dim" in options:
            raise ValueError("pass channel_dim to replace_activations itself (an int or a mapping path -> int)")
        create(e.name, **options)  # options checked once, before any change to the model
    elif callable(name):
        if options:
            raise ValueError("options are only accepted with an activation name, not with a factory")
    else:
        raise ValueError(f"name must be an activation name or a factory, got {name!r}")

    match = _target_matcher(targets)
    placement = _placement(model)
    if match(model):
        units, _ = _build(e, name, model, type(model).__name__, None, placement, options, channel_dim, start, 1)
        return units[0]

    records: list[dict[str, Any]] = []
    skipped: list[str] = []
    shared: dict[int, tuple[nn.Module, str]] = {}
    for parent_path, parent, slot, child in list(_slots(model, match)):
        path = _join(parent_path, slot)
        known = _known(child)
        if targets is None and known.squashing and not include_gates and not _feeds_a_layer(parent, slot):
            skipped.append(f"{path} ({known.label}: a gate or output, not a hidden layer)")
            continue
        if share and id(child) in shared:
            unit, first = shared[id(child)]
            setattr(parent, slot, unit)
            _disable_fixed_fast_path(parent, slot)
            records.append({"path": path, "old": known.label, "shared_with": first})
            continue
        calls = 1 if share else call_site_counts(parent).get(slot)
        sites = calls if calls and calls > 1 else 1
        units, record = _build(e, name, child, path, parent, placement, options, channel_dim, start, sites)
        if sites > 1 or calls in (None, 0):
            replacement: nn.Module = CallSites(units, path, counted=bool(calls))
            install_reset_hook(parent)
            install_reset_hook(model, reset_all_call_sites)
            record["call_sites"] = sites
        else:
            replacement = units[0]
        setattr(parent, slot, replacement)
        _disable_fixed_fast_path(parent, slot)
        shared[id(child)] = (replacement, path)
        records.append(record)

    record_replacements(model, records)
    _warn_incomplete(model, records, skipped)
    if verbose:
        print(replacement_report(model))
    return model


def _build(
    e: Optional[Entry], name: ActivationSpec, child: nn.Module, path: str, parent: Optional[nn.Module],
    placement: dict, options: dict, channel_dim, start: str, sites: int,
) -> tuple[list[nn.Module], dict[str, Any]]:
    """``sites`` new units replacing ``child`` at ``path``, and the record of the replacement."""
    known = _known(child)
    if e is None:  # a user's factory: no options, no start
        units = [name().to(**placement) for _ in range(sites)]
        return units, {"path": path, "old": known.label, "name": None, "new": type(units[0]).__name__,
                       "options": {}, "start": "the factory's own"}
    opts = dict(options)
    extra, note = _start(e, known, child, opts) if start == "replaced" else ({}, "its own initialisation")
    opts.update(extra)
    if "channel_dim" in e.options():
        nf = opts.get("num_features", _UNSET)
        per_channel = e.granularity == "channel" if nf is _UNSET else nf is not None
        if per_channel or opts.get("basis_batchnorm"):
            axis, count = _feature_axis(path, parent, channel_dim, child)
            opts["channel_dim"] = axis
            if per_channel and nf is _UNSET:
                opts["num_features"] = count if (count is not None and sites == 1) else "lazy"
    units = [create(e.name, **{**placement, **opts}) for _ in range(sites)]
    if start == "replaced" and e.family == "blend" and "init" not in options:
        note = [_weight_on(u, known) for u in units][0]
    record = {"path": path, "old": known.label, "name": e.name, "new": e.name, "options": _json_options(opts),
              "start": note}
    return units, record


def _feature_axis(path: str, parent: Optional[nn.Module], channel_dim, child: nn.Module) -> tuple[int, Optional[int]]:
    """The channel axis (and count, when the structure tells) for a per-channel unit at ``path``."""
    if isinstance(channel_dim, int):
        return channel_dim, None
    if isinstance(channel_dim, Mapping) and path in channel_dim:
        return check_channel_dim(channel_dim[path]), None
    slot = path.rsplit(".", 1)[-1]
    features = producer_features(parent, slot) if parent is not None else None
    if features is None:
        raise ValueError(
            f"replace_activations: cannot tell the feature axis of {path} ({type(child).__name__}) from the "
            f"model's structure; pass channel_dim=1 (for (N, C, *) inputs) or channel_dim=-1 (features last), "
            f"or channel_dim={{{path!r}: ...}}"
        )
    return features.channel_dim, features.count


def _disable_fixed_fast_path(parent: nn.Module, slot: str) -> None:
    """``nn.TransformerEncoderLayer``'s inference fast path computes ReLU/GELU itself, whatever
    ``activation`` holds; a replaced activation must switch it off."""
    if slot == "activation" and getattr(parent, "activation_relu_or_gelu", 0):
        parent.activation_relu_or_gelu = 0


def record_replacements(model: nn.Module, records: list[dict[str, Any]]) -> None:
    """Append ``records`` to ``model.adaptact_replacements``, and to a HuggingFace ``model.config``
    (so that ``save_pretrained`` writes them into ``config.json``)."""
    kept = list(getattr(model, MANIFEST_ATTR, [])) + list(records)
    setattr(model, MANIFEST_ATTR, kept)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict") and all(r.get("name") or "shared_with" in r for r in kept):
        setattr(config, MANIFEST_ATTR, kept)


def saved_records(model: nn.Module) -> list[dict[str, Any]]:
    """The replacement records of ``model``, refusing those that cannot be rebuilt from a file."""
    records = list(getattr(model, MANIFEST_ATTR, []))
    for r in records:
        if "shared_with" not in r and r.get("name") is None:
            raise ValueError(
                f"{r['path']} was replaced by a user factory, which cannot be rebuilt from a file; "
                f"replace with a registered name, or rebuild the model yourself before load_state_dict"
            )
    return records


def _warn_incomplete(model: nn.Module, records: list, skipped: list[str]) -> None:
    if not records:
        extra = f" (kept: {', '.join(skipped)}; include_gates=True replaces them)" if skipped else ""
        warnings.warn(
            f"replace_activations replaced nothing in {type(model).__name__}{extra}; activations called as "
            f"functions in forward() (F.relu(x)) cannot be replaced", stacklevel=3,
        )
    elif skipped:
        warnings.warn(
            f"replace_activations replaced {len(records)} of {len(records) + len(skipped)} activation modules; "
            f"kept {', '.join(skipped)}; include_gates=True or targets=... replaces them", stacklevel=3,
        )


def replacement_report(model: nn.Module) -> str:
    """A table of the replacements made in ``model``: path, old -> new, feature axis, what each unit starts as."""
    records = getattr(model, MANIFEST_ATTR, [])
    if not records:
        return "no replacements"
    lines = ["module | old -> new | channels | starts as", "--- | --- | --- | ---"]
    for r in records:
        if "shared_with" in r:
            lines.append(f"{r['path']} | {r['old']} -> shared with {r['shared_with']} | | ")
            continue
        opts = r.get("options", {})
        nf = opts.get("num_features")
        axis = "layer" if nf is None else f"{nf} on dim {opts.get('channel_dim', 1)}"
        sites = f" x{r['call_sites']} call sites" if r.get("call_sites", 1) > 1 else ""
        lines.append(f"{r['path']} | {r['old']} -> {r['new']}{sites} | {axis} | {r['start']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- hardening


def _swap(model: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every child module for which ``match`` holds by ``make(child)`` (every slot); return the count."""
    count = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent._modules.items()):
            if child is not None and match(child):
                setattr(parent, child_name, make(child))
                count += 1
    return count


def _hardenable(m: nn.Module) -> bool:
    return callable(getattr(m, "hardened", None))


def hardened_choices(model: nn.Module) -> dict[str, str]:
    """For every AdAct unit in ``model``: its qualified name -> the name of its argmax activation."""
    return {name: m.choice() for name, m in model.named_modules() if _hardenable(m)}


@torch.no_grad()
def harden(model: nn.Module) -> nn.Module:
    """Replace every AdAct unit by the fixed activation it weights most (per layer), in place.

    This builds the AdAct paper's "Optimized" network; PReLU keeps the learned
    slope. Returns the model (or the hardened unit when ``model`` is itself one).
    """
    if _hardenable(model):
        return model.hardened()
    _swap(model, _hardenable, lambda m: m.hardened().to(**_placement(m)))
    return model
