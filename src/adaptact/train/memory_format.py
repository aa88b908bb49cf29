"""A run's memory format (``RunSpec.memory_format``): the model's 4-d weights, and every 4-d tensor it is given,
in channels-last order."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["apply_memory_format"]


def _channels_last_inputs(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.dim() == 4
                 else a for a in args)


def apply_memory_format(model: nn.Module, memory_format: str) -> nn.Module:
    """``model`` unchanged for ``contiguous``; for ``channels_last``, its 4-d parameters and buffers converted
    and a forward pre-hook that converts each 4-d positional input (training batches, evaluation batches,
    probes alike). Values are those of the same math in another order (see ``RunSpec.memory_format``)."""
    if memory_format == "contiguous":
        return model
    if memory_format != "channels_last":
        raise ValueError(f"memory_format must be 'contiguous' or 'channels_last', got {memory_format!r}")
    model.to(memory_format=torch.channels_last)
    model.register_forward_pre_hook(_channels_last_inputs)
    return model
