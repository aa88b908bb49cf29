"""Building blocks shared by the paper architectures: resolving ``act=``, Maxout widening, TF-style pooling, inits."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptact.kernels.dropout import dropout
from adaptact.kernels.max_pool import max_pool2d
from adaptact.registry import create, entry

__all__ = [
    "ActSpec",
    "Dropout",
    "MaxPool2d",
    "SamePadMaxPool2d",
    "activation",
    "conv_act",
    "depth_entry",
    "describe_act",
    "he_truncated_normal_",
    "lecun_uniform_",
    "linear_act",
    "per_layer",
    "widen",
]

#: what a model's ``act=`` accepts: a registered name, a factory ``f(num_features) -> Module``, or a module class
ActSpec = Union[str, Callable[..., nn.Module], type]


def _name(act: ActSpec) -> str | None:
    return entry(act).name if isinstance(act, str) else None


def widen(act: ActSpec, act_options: dict[str, Any] | None = None) -> int:
    """How many times wider the layer before ``act`` must be: ``k`` for Maxout, else 1."""
    if _name(act) == "maxout":
        return int((act_options or {}).get("k", 2))
    return 1


def activation(act: ActSpec, channels: int, act_options: dict[str, Any] | None = None) -> nn.Module:
    """Build the activation module that follows a layer with ``channels`` output channels (or neurons).

    - a registered name: built by :func:`adaptact.create`; units whose papers
      learn one parameter set per neuron (``granularity="channel"``: agumbel,
      arelu, metaneuron, vaf, apl, srelu) get ``num_features=channels`` unless
      ``act_options`` says otherwise;
    - a module class (``nn.ReLU``): called with ``act_options``;
    - any other callable: called as ``act(channels, **act_options)``.
    """
    opts = dict(act_options or {})
    if isinstance(act, str):
        e = entry(act)
        if e.granularity == "channel" and "num_features" not in opts:
            opts["num_features"] = channels
        return create(act, **opts)
    if isinstance(act, type) and issubclass(act, nn.Module):
        return act(**opts)
    if callable(act):
        return act(channels, **opts)
    raise ValueError(f"act must be an activation name, a module class or a factory, got {act!r}")


def per_layer(act: ActSpec | Sequence[ActSpec], count: int) -> list[ActSpec]:
    """One activation spec per activation layer: a sequence must have ``count`` entries, a single spec repeats."""
    if isinstance(act, (list, tuple)):
        if len(act) != count:
            raise ValueError(f"act: got {len(act)} activations for {count} activation layers")
        return list(act)
    return [act] * count


def depth_entry(table: dict[str, Any], family: str, depth: int) -> Any:
    """``table["<family><depth>"]`` (the block layout of e.g. ``resnet101``); a ``ValueError`` listing the
    depths the table has otherwise."""
    key = f"{family}{depth}"
    if key not in table:
        raise ValueError(f"depth must be one of {sorted(int(k[len(family):]) for k in table)}, got {depth}")
    return table[key]


def describe_act(act: ActSpec) -> str:
    """A short printable name for ``act``."""
    if isinstance(act, str):
        return entry(act).name
    return getattr(act, "__name__", type(act).__name__)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU float32 masks are drawn by :func:`adaptact.kernels.dropout.dropout` (a counter
    hash in C, 10-20x torch's Bernoulli draws; the same distribution, other masks); every other call is torch's."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.inplace)


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d``, computed by adaptact's C kernel wherever that serves the call (CPU float32 NCHW, see
    :mod:`adaptact.kernels.max_pool`): the same values and gradients bit for bit, several times faster than
    torch's CPU kernel for NCHW tensors; every other call is torch's."""

    def forward(self, x: Tensor):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode,
                          return_indices=self.return_indices)


class SamePadMaxPool2d(nn.Module):
    """Max pooling with TensorFlow's "SAME" padding (output ``ceil(in / stride)``, extra padding at the end)."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            out = math.ceil(size / self.stride)
            total = max((out - 1) * self.stride + self.kernel_size - size, 0)
            pads += [total // 2, total - total // 2]
        return max_pool2d(F.pad(x, pads, value=float("-inf")), self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding=SAME"


@torch.no_grad()
def he_truncated_normal_(weight: Tensor) -> Tensor:
    """He init as TensorFlow's truncated normal: std sqrt(2 / fan_in), cut at 2 std."""
    fan_in = weight[0].numel()
    std = math.sqrt(2.0 / fan_in)
    return nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


@torch.no_grad()
def lecun_uniform_(tensor: Tensor, fan_in: int) -> Tensor:
    """LeCun (1998) uniform init: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))."""
    bound = math.sqrt(3.0 / fan_in)
    return tensor.uniform_(-bound, bound)


def _with_activation(
    layer: Callable[[int], nn.Module],
    norm: Callable[[int], nn.Module] | None,
    width: int,
    act: ActSpec,
    act_options: dict[str, Any] | None,
    wide_norm: bool = False,
) -> list[nn.Module]:
    """``layer(width) -> [norm] -> act``; with Maxout ``layer(k*width) -> maxout -> [norm(width)]``, or with
    ``wide_norm`` ``layer(k*width) -> [norm(k*width)] -> maxout``."""
    k = widen(act, act_options)
    unit = activation(act, width, act_options)
    if k > 1 and wide_norm:
        return [layer(width * k)] + ([norm(width * k)] if norm is not None else []) + [unit]
    normalise = [norm(width)] if norm is not None else []
    return [layer(width * k)] + ([unit] + normalise if k > 1 else normalise + [unit])


def conv_act(
    cin: int,
    cout: int,
    kernel: int,
    act: ActSpec,
    act_options: dict[str, Any] | None = None,
    *,
    padding: int | str = 0,
    batch_norm: bool = False,
    stride: int = 1,
    groups: int = 1,
    bias: bool = True,
    wide_norm: bool = False,
) -> list[nn.Module]:
    """``conv -> [BN] -> act`` with ``cout`` output channels (``stride``, ``groups``, ``bias`` as in ``nn.Conv2d``).

    With Maxout the convolution is made ``k`` times wider and the order is
    ``conv(k*cout) -> maxout -> [BN(cout)]`` (BN on the reduced channels). A grouped
    convolution keeps its groups: each group gives ``k`` times as many channels, and
    Maxout's consecutive groups of ``k`` stay inside one group (a depthwise convolution
    stays depthwise). ``wide_norm=True`` puts the BN before the Maxout, on the ``k*cout`` channels.
    """
    return _with_activation(
        lambda w: nn.Conv2d(cin, w, kernel, stride=stride, padding=padding, groups=groups, bias=bias),
        nn.BatchNorm2d if batch_norm else None, cout, act, act_options, wide_norm)


def linear_act(
    fin: int,
    fout: int,
    act: ActSpec,
    act_options: dict[str, Any] | None = None,
    *,
    batch_norm: bool = False,
) -> list[nn.Module]:
    """``linear -> [BN] -> act`` with ``fout`` outputs (Maxout: ``linear(k*fout) -> maxout -> [BN]``)."""
    return _with_activation(lambda w: nn.Linear(fin, w), nn.BatchNorm1d if batch_norm else None, fout, act,
                            act_options)
