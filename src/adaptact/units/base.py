"""The base class of every trainable unit: parameter sharing, lazy channel counts, repr."""
from __future__ import annotations

from typing import Any, Iterator, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn.parameter import UninitializedParameter

from adaptact.functional import basis_function
from adaptact.layout import canonical_view, check_channel_dim, resolve_channel_dim

__all__ = ["ActivationUnit", "NumFeatures", "check_choice", "check_int", "basis_parameter_init", "check_num_features"]

NumFeatures = Union[int, str, None]
LAZY = "lazy"
#: the largest channel count a unit accepts (a larger one is almost surely a mistake, and would take GBs)
MAX_NUM_FEATURES = 2**24


def check_num_features(num_features: Any) -> int | str | None:
    """Validate the ``num_features`` option: ``None``, ``"lazy"`` or a positive int."""
    if num_features is None or num_features == LAZY:
        return num_features
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ValueError(
            f"num_features must be None (one parameter set per layer), a positive int "
            f"(one per channel) or 'lazy' (per channel, counted from the first batch); got {num_features!r}"
        )
    if num_features > MAX_NUM_FEATURES:
        raise ValueError(f"num_features={num_features} is above the limit of {MAX_NUM_FEATURES} channels per unit")
    return num_features


def check_choice(option: str, value: Any, choices: tuple) -> Any:
    """Raise a ``ValueError`` naming ``option`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{option} must be one of {list(choices)}, got {value!r}")
    return value


def check_int(option: str, value: Any, minimum: int) -> int:
    """Raise a ``ValueError`` naming ``option`` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{option} must be an integer >= {minimum}, got {value!r}")
    return value


class ActivationUnit(nn.Module):
    """Base class of the trainable activation units.

    A unit holds its parameters either once per layer (``num_features=None``),
    once per channel (``num_features=C``: the axis ``channel_dim`` of the
    input, default 1 as in ``(N, C, *)``; ``-1`` for features last, as after a
    Linear layer), or once per channel with the count read from the first input
    (``num_features="lazy"``). Subclasses declare their parameters with
    :meth:`add_parameter` in ``__init__``, fill them in :meth:`reset_parameters`,
    and define :meth:`compute` by calling one function of :mod:`adaptact.functional`
    on an input whose channel axis is dim 1.

    ``forward`` hands :meth:`compute` a view of the input (:func:`adaptact.layout.canonical_view`):
    the channel axis moved to dim 1 by a reshape, the memory format kept, no copy
    for dense inputs; the output is contiguous in the input's memory format.

    Lazy units hold :class:`~torch.nn.parameter.UninitializedParameter` until
    the first forward pass (or a ``load_state_dict``); an optimizer may be
    built before that. Run one batch before ``torch.compile``.
    """

    #: whether the unit's leading parameter axis always exists (subnetworks use G=1 for a shared set)
    shared_has_group_axis = False
    #: whether the unit needs the channel axis even with one parameter set (per-channel batch statistics)
    uses_channel_axis = False

    def __init__(self, num_features: NumFeatures = None, *, channel_dim: int = 1, device=None, dtype=None) -> None:
        super().__init__()
        self.num_features = check_num_features(num_features)
        self.channel_dim = check_channel_dim(channel_dim)
        self._factory_kwargs = {"device": device, "dtype": dtype}
        self._trailing_shapes: dict[str, tuple[int, ...]] = {}
        if self.num_features == LAZY:
            self._lazy_hook = self.register_forward_pre_hook(self._materialize_from_input)
            self._register_load_state_dict_pre_hook(self._materialize_from_state_dict)

    # ------------------------------------------------------------------ parameters

    @property
    def is_lazy(self) -> bool:
        """True until a lazy unit has seen its first batch."""
        return any(isinstance(p, UninitializedParameter) for p in self.parameters(recurse=False))

    def _group_shape(self) -> tuple[int, ...]:
        if self.num_features is None:
            return (1,) if self.shared_has_group_axis else ()
        return (self.num_features,)

    def add_parameter(self, name: str, *trailing: int) -> nn.Parameter:
        """Declare a parameter of shape ``trailing`` per layer, or ``(C,) + trailing`` per channel."""
        self._trailing_shapes[name] = tuple(trailing)
        if self.num_features == LAZY:
            p: nn.Parameter = UninitializedParameter(**self._factory_kwargs)
        else:
            p = nn.Parameter(torch.empty(self._group_shape() + tuple(trailing), **self._factory_kwargs))
        self.register_parameter(name, p)
        return p

    def _materialize(self, channels: int) -> None:
        self.num_features = channels
        for name, trailing in self._trailing_shapes.items():
            p = getattr(self, name)
            if isinstance(p, UninitializedParameter):
                p.materialize((channels,) + trailing)
        self.reset_parameters()
        self._lazy_hook.remove()

    def _materialize_from_input(self, module: nn.Module, args: tuple) -> None:
        x = args[0]
        if x.dim() < 2:
            raise ValueError(
                f"a lazy per-channel {type(self).__name__} needs inputs with a batch and a channel axis "
                f"(channel_dim={self.channel_dim}), got shape {tuple(x.shape)}"
            )
        dim = resolve_channel_dim(self.channel_dim, tuple(x.shape), type(self).__name__)
        self._materialize(x.shape[dim])

    def _materialize_from_state_dict(self, state_dict, prefix, *args) -> None:
        for name in self._trailing_shapes:
            key = prefix + name
            if key in state_dict and isinstance(getattr(self, name), UninitializedParameter):
                self._materialize(state_dict[key].shape[0])
                return

    def reset_parameters(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    # ------------------------------------------------------------------ computing

    def compute(self, x: Tensor) -> Tensor:  # pragma: no cover - every subclass defines it
        """The unit on an input whose channel axis (if any) is dim 1."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        per_channel = self.num_features is not None or self.uses_channel_axis
        if x.is_contiguous() and (not per_channel or self.channel_dim == 1 or self.channel_dim == 1 - x.dim()):
            return self.compute(x).contiguous()  # already canonical: no view needed
        view, how = canonical_view(x, self.channel_dim if per_channel else None, type(self).__name__)
        return how.restore(self.compute(view))

    def fill_(self, name: str, values: Any) -> None:
        """Set parameter ``name`` to ``values`` (broadcast over the channels)."""
        p = getattr(self, name)
        with torch.no_grad():
            p.copy_(torch.as_tensor(values, dtype=p.dtype, device=p.device).expand_as(p))

    def unit_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """The unit's own declared parameters, in declaration order."""
        for name in self._trailing_shapes:
            yield name, getattr(self, name)

    # ------------------------------------------------------------------ repr

    def _repr_options(self) -> dict[str, Any]:
        """Constructor options to echo in ``repr`` (subclasses extend)."""
        return {}

    def extra_repr(self) -> str:
        opts = {"num_features": self.num_features, **self._repr_options()}
        if self.channel_dim != 1:
            opts["channel_dim"] = self.channel_dim
        return ", ".join(f"{k}={v!r}" for k, v in opts.items())



def basis_parameter_init(basis: Sequence[str]) -> list[float]:
    """Initial values of the basis functions' own parameters, concatenated in basis order."""
    return [init for name in basis for _, init in basis_function(name).params]
