"""On-device augmentation and batching: deterministic per generator state, exact where the maths says so."""
from __future__ import annotations

import pytest
import torch

from adaptact.data import batches, random_crop, random_flip, random_rotation


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images():
    return torch.rand(16, 3, 10, 10, generator=_gen(123))


@pytest.mark.parametrize("augment", [
    lambda x, g: random_crop(x, 2, g),
    lambda x, g: random_flip(x, g),
    lambda x, g: random_rotation(x, 30, g),
])
def test_deterministic_for_a_seed_and_shape_kept(images, augment):
    a, b = augment(images, _gen(7)), augment(images, _gen(7))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, augment(images, _gen(8)))


def test_flip_is_an_exact_mirror_per_image(images):
    out = random_flip(images, _gen(1))
    flipped = [torch.equal(o, x.flip(-1)) for o, x in zip(out, images)]
    kept = [torch.equal(o, x) for o, x in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image either mirrored or untouched
    assert 3 <= sum(flipped) <= 13
    assert torch.equal(random_flip(images, _gen(1), p=1.0), images.flip(-1))
    assert torch.equal(random_flip(images, _gen(1), p=0.0), images)


def test_crop_with_zero_padding_is_identity(images):
    assert torch.equal(random_crop(images, 0, _gen()), images)


def test_crop_is_a_shifted_window_of_the_zero_padded_image(images):
    out = random_crop(images, 3, _gen(2), fill=0.0)
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3))
    offsets = set()
    for o, p in zip(out, padded):
        matches = [(r, c) for r in range(7) for c in range(7) if torch.equal(o, p[:, r:r + 10, c:c + 10])]
        assert matches, "every crop is a window of the padded image"
        offsets.add(matches[0])
    assert len(offsets) > 4  # offsets differ per image
    filled = random_crop(images, 3, _gen(2), fill=-5.0)  # same offsets, padding -5 instead of 0
    assert (filled == -5.0).any() and torch.equal(torch.where(filled == -5.0, 0.0, filled), out)


def test_rotation_by_zero_is_identity(images):
    assert torch.allclose(random_rotation(images, 0, _gen()), images, atol=1e-6)
    assert torch.allclose(random_rotation(images, (0, 0), _gen()), images, atol=1e-6)


def test_rotation_by_90_matches_rot90_away_from_borders(images):
    out = random_rotation(images, (90, 90), _gen())
    want = torch.rot90(images, 1, dims=(-2, -1))  # counter-clockwise
    assert torch.allclose(out[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1], atol=1e-5)
    back = random_rotation(images, (-90, -90), _gen())
    assert torch.allclose(back[..., 1:-1, 1:-1], torch.rot90(images, -1, dims=(-2, -1))[..., 1:-1, 1:-1], atol=1e-5)


def test_rotation_is_rigid_on_non_square_images():
    x = torch.rand(2, 1, 8, 12, generator=_gen(3))
    out = random_rotation(x, (90, 90), _gen())
    centre = slice(2, 10)  # the central 8x8 square turns into itself
    assert torch.allclose(out[..., centre], torch.rot90(x[..., centre], 1, dims=(-2, -1)), atol=1e-5)


def test_rotation_fills_uncovered_corners():
    x = torch.ones(1, 1, 9, 9)
    out = random_rotation(x, (45, 45), _gen(), fill=-2.0)
    assert out[0, 0, 0, 0] == pytest.approx(-2.0) and out[0, 0, 4, 4] == pytest.approx(1.0)


def test_rotation_angles_differ_per_image(images):
    same = images[:1].expand(8, -1, -1, -1).contiguous()
    out = random_rotation(same, 30, _gen(5))
    assert len({tuple(o.flatten()[:20].tolist()) for o in out}) == 8


def test_augmentation_rejects_non_batches():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_flip(torch.zeros(3, 4, 4), _gen())
    with pytest.raises(ValueError, match="padding"):
        random_crop(torch.zeros(1, 1, 4, 4), -1, _gen())


def test_batches_cover_all_indices_once():
    parts = list(batches(10, 4, generator=_gen(0)))
    assert [len(p) for p in parts] == [4, 4, 2] and len(batches(10, 4, generator=_gen())) == 3
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    assert all(p.dtype == torch.int64 for p in parts)


def test_batches_shuffle_repeats_per_seed_and_changes_per_epoch():
    a, b = batches(20, 5, generator=_gen(3)), batches(20, 5, generator=_gen(3))
    first_a, first_b = torch.cat(list(a)), torch.cat(list(b))
    assert torch.equal(first_a, first_b)
    assert not torch.equal(first_a, torch.cat(list(a)))  # a new permutation each epoch
    assert not torch.equal(first_a, torch.arange(20))


def test_batches_in_order_and_drop_last():
    ordered = list(batches(7, 3, shuffle=False))
    assert [p.tolist() for p in ordered] == [[0, 1, 2], [3, 4, 5], [6]]
    dropped = batches(7, 3, shuffle=False, drop_last=True)
    assert len(dropped) == 2 and [len(p) for p in dropped] == [3, 3]


def test_batches_need_a_generator_to_shuffle():
    with pytest.raises(ValueError, match="generator"):
        batches(10, 2)
    with pytest.raises(ValueError, match="batch_size"):
        batches(10, 0, shuffle=False)
