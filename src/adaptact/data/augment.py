"""Batched, on-device image augmentation driven by an explicit ``torch.Generator``.

Every function takes a batch ``(N, C, H, W)`` and draws one random choice per image
from ``generator`` (on the generator's device, then moved to the batch's device), with
no Python loop over images. The same generator state gives the same output, so runs
repeat exactly. ``fill`` is the value of the padded / uncovered area; when the batch is
already normalised, pass the normalised black value (``data.meta["normalization"]["black"]``)
to mimic augmenting before normalising as torchvision pipelines do.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["random_crop", "random_flip", "random_rotation"]


def _check_batch(x: torch.Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{what} expects images (N, C, H, W), got shape {tuple(x.shape)}")


def _rand(generator: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, *, fill: float = 0.0) -> torch.Tensor:
    """Pad each side by ``padding`` with ``fill``, then cut an ``H x W`` window at a random offset per image.

    Offsets are uniform in ``[0, 2*padding]`` for rows and columns independently
    (torchvision's ``RandomCrop(size, padding)``). ``padding=0`` returns ``x`` unchanged.
    """
    _check_batch(x, "random_crop")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    if padding == 0:
        return x
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=generator.device).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding), value=fill)
    rows = offsets[:, :1] + torch.arange(h, device=x.device)  # (N, H)
    cols = offsets[:, 1:] + torch.arange(w, device=x.device)  # (N, W)
    padded = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def random_flip(x: torch.Tensor, generator: torch.Generator, *, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check_batch(x, "random_flip")
    flip = _rand(generator, (x.shape[0],), x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_rotation(
    x: torch.Tensor,
    degrees: float | Sequence[float],
    generator: torch.Generator,
    *,
    fill: float = 0.0,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Rotate each image about its centre by an angle uniform in ``[-degrees, degrees]`` (or ``[lo, hi]``).

    Positive angles turn the picture counter-clockwise (as ``torch.rot90`` with ``k=1`` and
    torchvision's ``RandomRotation``). One ``affine_grid`` + ``grid_sample`` for the whole
    batch (``align_corners=False``, so a 90-degree turn of a square image lands exactly on
    pixel centres); the uncovered corners get ``fill``.
    """
    _check_batch(x, "random_rotation")
    lo, hi = (-abs(degrees), abs(degrees)) if isinstance(degrees, (int, float)) else tuple(degrees)
    n, _, h, w = x.shape
    angle = (lo + (hi - lo) * _rand(generator, (n,), x.device).double()) * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # grid maps output to input coordinates, normalised to [-1, 1] per axis; the aspect
    # factors keep the rotation rigid in pixel units for non-square images
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * (h / w)
    theta[:, 1, 0], theta[:, 1, 1] = sin * (w / h), cos
    work = x if x.is_floating_point() else x.float()
    grid = F.affine_grid(theta.to(work.dtype), list(work.shape), align_corners=False)
    out = F.grid_sample(work - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    return out.to(x.dtype)
