"""Preprocessing applied once to whole splits on the device: pixel scaling, resizing, normalisation.

Normalisation modes (statistics, where needed, come from the training split only):

- ``"per-image"``: each image gets ``(x - mean) / max(std, 1/sqrt(C*H*W))`` over its own
  pixels (``tf.image.per_image_standardization``; ABU). Computed on pixels in [0, 1], so the
  floor only matters for almost uniform images.
- ``"mean-std"``: ``(x - mean_c) / std_c`` per channel ``c``; ``mean``/``std`` given explicitly
  (in [0, 1] pixel units, e.g. MNIST's 0.1307 / 0.3081) or else measured on the training split
  (population standard deviation over all its pixels).
- ``"minus-one-one"``: ``2 x - 1`` for pixels in [0, 1] (AdAct's mean 0.5 / std 0.5).
- ``"unit"``: pixels in [0, 1].
- ``"none"``: the stored values as float32 (0..255 for 8-bit images).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["NORMALIZATIONS", "channel_stats", "normalize", "per_image_standardize", "resize"]

NORMALIZATIONS = ("per-image", "mean-std", "minus-one-one", "unit", "none")
CHUNK = 8192  # images per step where a whole split would need large temporaries


def _per_channel(values: float | Sequence[float] | None, channels: int, what: str) -> torch.Tensor | None:
    if values is None:
        return None
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 1:
        v = v.expand(channels)
    if v.numel() != channels:
        raise ValueError(f"{what} needs 1 or {channels} values (one per channel), got {v.numel()}")
    return v


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std per channel (dim 1) over all other dims, accumulated in float64."""
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    squares = torch.zeros_like(total)
    dims = [0] + list(range(2, x.dim()))
    for chunk in x.split(CHUNK):
        c = chunk.double()
        total += c.sum(dims)
        squares += (c * c).sum(dims)
    n = x.numel() / x.shape[1]
    mean = total / n
    return mean, (squares / n - mean * mean).clamp_min(0).sqrt()


def per_image_standardize(x: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / max(std, 1/sqrt(numel))`` with mean and population std over each example's own values.

    Works in place on ``x`` (a float tensor) and returns it.
    """
    if x.shape[0] == 0:
        return x
    flat = x.view(x.shape[0], -1)
    for chunk in flat.split(CHUNK):
        std, mean = torch.std_mean(chunk, 1, correction=0, keepdim=True)
        chunk.sub_(mean).div_(std.clamp_min_(1.0 / math.sqrt(flat.shape[1])))
    return x


def resize(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``size`` (an int for square); antialiased when shrinking."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise ValueError(f"resize must be a positive int or (height, width), got {size!r}")
    if tuple(x.shape[-2:]) == hw:
        return x
    if x.shape[0] == 0:
        return x.new_empty(tuple(x.shape[:2]) + hw)
    shrink = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    parts = [
        F.interpolate(c, size=hw, mode="bilinear", align_corners=False, antialias=shrink) for c in x.split(CHUNK)
    ]
    return torch.cat(parts)


def normalize(
    train: torch.Tensor,
    others: list[torch.Tensor],
    mode: str,
    *,
    scale: float | None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
    """Normalise float ``train`` and ``others`` by ``mode`` (see the module docstring).

    Args:
        train, others: float32 tensors with channels (or features) in dim 1, in stored units.
        scale: the stored value meaning 1.0 (255 for 8-bit pixels; ``None`` for feature vectors: 1).
        mean, std: explicit statistics for ``"mean-std"`` (1 value or one per channel), in scaled units.

    The tensors are modified in place (the loader passes fresh copies).

    Returns:
        ``(train, others, info)``; ``info`` records the mode, the statistics used and
        ``black``: what a stored 0 becomes per channel (``None`` for per-image), the
        value to pad with when augmenting after normalisation.
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {mode!r}")
    if (mean is not None or std is not None) and mode != "mean-std":
        raise ValueError(f"mean=/std= only apply to normalization='mean-std', not {mode!r}")
    channels = train.shape[1]
    info: dict = {"mode": mode}
    tensors = [train] + list(others)
    if mode == "none":
        info["black"] = [0.0] * channels
        return train, list(others), info
    unit = 1.0 if scale is None else float(scale)
    tensors = [t.div_(unit) for t in tensors]
    info["scale"] = unit
    if mode == "unit":
        info["black"] = [0.0] * channels
    elif mode == "minus-one-one":
        tensors = [t.mul_(2).sub_(1) for t in tensors]
        info["black"] = [-1.0] * channels
    elif mode == "per-image":
        tensors = [per_image_standardize(t) for t in tensors]
        info["black"] = None
        info["std_floor"] = 1.0 / math.sqrt(train[0].numel()) if len(train) else None
    else:
        m, s = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
        if (m is None) != (s is None):
            raise ValueError("give both mean= and std=, or neither (then they are measured on the training split)")
        info["stats_from"] = "given" if m is not None else "training split"
        if m is None:
            if len(train) == 0:
                raise ValueError("normalization='mean-std' needs a non-empty training split or explicit mean=/std=")
            m, s = channel_stats(tensors[0])
        if bool((s <= 0).any()):
            raise ValueError(f"std must be positive, got {s.tolist()}")
        shape = (1, channels) + (1,) * (train.dim() - 2)
        mt, st = m.float().to(train.device).view(shape), s.float().to(train.device).view(shape)
        tensors = [t.sub_(mt).div_(st) for t in tensors]
        info.update(mean=m.tolist(), std=s.tolist(), black=(-m / s).tolist())
    return tensors[0], tensors[1:], info
