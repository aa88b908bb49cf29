"""``load``'s pipeline on small data: normalisation, resizing, validation split, subsets, meta."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_data_files import RAW, tar_folder, write_cifar10, write_image_folders, write_mnist

from adaptact import data


@pytest.fixture
def mnist_dir(tmp_path):
    arrays = write_mnist(tmp_path / "mnist", n_train=40, n_test=10)
    return tmp_path, arrays


def _pixels(arrays, prefix="train"):
    return torch.from_numpy(arrays[prefix][0]).float().unsqueeze(1)


def test_list_datasets():
    listing = data.list_datasets()
    assert list(listing) == ["mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "fer2013", "rt-polarity",
                             "imagenet", "imagenet-synthetic", "digits", "teacher", "image-folder", "csv"]
    assert [n for n, e in listing.items() if not e["needs_files"]] == ["imagenet-synthetic", "digits", "teacher"]
    assert "fmnist" in listing["fashion-mnist"]["aliases"] and "mr" in listing["rt-polarity"]["aliases"]
    assert listing["teacher"]["options"]["hidden_layers"] == 1
    json.dumps(listing)


@pytest.mark.parametrize("mode", ["unit", "minus-one-one", "none"])
def test_fixed_normalizations_are_exact(mnist_dir, mode):
    root, arrays = mnist_dir
    d = data.load("mnist", root, normalization=mode, cache_dir=False)
    x = _pixels(arrays)
    expected = {"unit": x / 255, "minus-one-one": x / 255 * 2 - 1, "none": x}[mode]
    assert torch.equal(d.x_train, expected)
    assert d.meta["normalization"]["black"] == [{"unit": 0.0, "minus-one-one": -1.0, "none": 0.0}[mode]]


def test_mean_std_measured_on_the_training_split(tmp_path):
    write_cifar10(tmp_path, per_batch=20)
    d = data.load("cifar10", tmp_path, normalization="mean-std", val_size=10)
    mean, std = d.x_train.mean((0, 2, 3)), d.x_train.std((0, 2, 3), correction=0)
    assert torch.allclose(mean, torch.zeros(3), atol=1e-5) and torch.allclose(std, torch.ones(3), atol=1e-5)
    assert not torch.allclose(d.x_val.mean((0, 2, 3)), torch.zeros(3), atol=1e-3)  # not its own statistics
    info = d.meta["normalization"]
    assert info["stats_from"] == "training split" and len(info["mean"]) == 3
    raw = data.load("cifar10", tmp_path, val_size=10, **RAW)
    m, s = torch.tensor(info["mean"]).view(1, 3, 1, 1), torch.tensor(info["std"]).view(1, 3, 1, 1)
    assert torch.allclose(d.x_test, (raw.x_test / 255 - m) / s, atol=1e-5)
    assert np.allclose(info["black"], (-m / s).flatten().tolist())


def test_mean_std_given_explicitly_and_mnist_default(mnist_dir):
    root, arrays = mnist_dir
    d = data.load("mnist", root, cache_dir=False)  # default: PAU / Davis constants
    assert d.meta["normalization"]["mean"] == pytest.approx([0.1307])
    assert d.meta["normalization"]["std"] == pytest.approx([0.3081])
    assert torch.allclose(d.x_train, (_pixels(arrays) / 255 - 0.1307) / 0.3081, atol=1e-6)
    given = data.load("mnist", root, mean=0.5, std=0.25, cache_dir=False)
    assert given.meta["normalization"]["stats_from"] == "given"
    assert torch.allclose(given.x_test, (_pixels(arrays, "t10k") / 255 - 0.5) / 0.25, atol=1e-6)


def test_per_image_standardization():
    x = torch.rand(5, 3, 4, 4)
    x[4] = 0.3  # a constant image: the std floor 1/sqrt(48) applies, result all zeros
    out = data.preprocess.per_image_standardize(x.clone())
    flat = out.flatten(1)
    assert torch.allclose(flat[:4].mean(1), torch.zeros(4), atol=1e-6)
    assert torch.allclose(flat[:4].std(1, correction=0), torch.ones(4), atol=1e-5)
    assert torch.equal(out[4], torch.zeros(3, 4, 4))
    y = x[:4].flatten(1)
    expected = (y - y.mean(1, keepdim=True)) / y.std(1, correction=0, keepdim=True).clamp_min(48 ** -0.5)
    assert torch.allclose(flat[:4], expected, atol=1e-6)


def test_per_image_in_the_loader(mnist_dir):
    root, _ = mnist_dir
    d = data.load("mnist", root, normalization="per-image", cache_dir=False)
    assert torch.allclose(d.x_test.flatten(1).std(1, correction=0), torch.ones(10), atol=1e-5)
    assert d.meta["normalization"]["black"] is None
    assert d.meta["normalization"]["std_floor"] == pytest.approx(1 / 28)


def test_resize(mnist_dir):
    root, arrays = mnist_dir
    d = data.load("mnist", root, resize=32, normalization="unit", cache_dir=False)
    assert d.x_train.shape == (40, 1, 32, 32) and d.input_shape == (1, 32, 32)
    want = F.interpolate(_pixels(arrays) / 255, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.allclose(d.x_train, want, atol=1e-6)
    small = data.load("mnist", root, resize=(14, 7), normalization="unit", cache_dir=False)
    want = F.interpolate(_pixels(arrays) / 255, size=(14, 7), mode="bilinear", antialias=True, align_corners=False)
    assert small.x_train.shape == (40, 1, 14, 7) and torch.allclose(small.x_train, want, atol=1e-6)
    constant = torch.full((2, 1, 28, 28), 0.25)
    assert torch.allclose(data.preprocess.resize(constant, 32), torch.full((2, 1, 32, 32), 0.25))


def test_validation_from_the_front(mnist_dir):
    root, arrays = mnist_dir
    d = data.load("mnist", root, val_size=8, normalization="none", cache_dir=False)
    x = _pixels(arrays)
    assert torch.equal(d.x_val, x[:8]) and torch.equal(d.x_train, x[8:])
    assert d.meta["sizes"] == {"train": 32, "val": 8, "test": 10} and d.meta["val_size"] == 8
    fraction = data.load("mnist", root, val_size=0.25, normalization="none", cache_dir=False)
    assert len(fraction.y_val) == 10


def test_random_validation_is_seeded_and_disjoint(mnist_dir):
    root, _ = mnist_dir
    a = data.load("mnist", root, val_size=8, val_from="random", **RAW)
    b = data.load("mnist", root, val_size=8, val_from="random", **RAW)
    c = data.load("mnist", root, val_size=8, val_from="random", seed=1, **RAW)
    assert torch.equal(a.x_val, b.x_val) and not torch.equal(a.x_val, c.x_val)
    rows = lambda t: sorted(map(tuple, t.flatten(1).tolist()))  # noqa: E731
    everything = data.load("mnist", root, **RAW).x_train
    assert rows(torch.cat([a.x_train, a.x_val])) == rows(everything)


def test_subsets_are_seeded(mnist_dir):
    root, arrays = mnist_dir
    a = data.load("mnist", root, val_size=10, train_subset=12, test_subset=0.5, **RAW)
    b = data.load("mnist", root, val_size=10, train_subset=12, test_subset=0.5, **RAW)
    c = data.load("mnist", root, val_size=10, train_subset=12, test_subset=0.5, seed=3, **RAW)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (12, 10, 5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(a.x_val, _pixels(arrays)[:10])  # the subset is drawn after the validation split
    pool = set(map(tuple, _pixels(arrays)[10:].flatten(1).tolist()))
    assert set(map(tuple, a.x_train.flatten(1).tolist())) <= pool


def test_meta_is_json_and_complete(mnist_dir):
    root, _ = mnist_dir
    d = data.load("mnist", root, val_size=4, resize=(30, 30), cache_dir=False)
    meta = json.loads(json.dumps(d.meta))
    for key in ("dataset", "files", "normalization", "resize", "sizes", "class_counts", "seed", "device",
                "released_sizes", "load_seconds", "options"):
        assert key in meta
    assert meta["resize"] == [30, 30] and len(meta["files"]) == 4
    assert sum(meta["class_counts"]["train"]) == 36 and meta["released_sizes"] == {"train": 40, "test": 10}


def test_tensor_data_record(mnist_dir):
    root, _ = mnist_dir
    d = data.load("mnist", root, cache_dir=False)
    assert d.x_val.shape == (0, 1, 28, 28) and d.y_val.dtype == torch.int64
    x, y = d.split("test")
    assert x is d.x_test and y is d.y_test
    assert repr(d) == ("TensorData('mnist', train=40, val=0, test=10, input_shape=(1, 28, 28), num_classes=10, "
                       "device=cpu)")
    with pytest.raises(ValueError, match="split must be"):
        d.split("validation")


def test_digits_builtin():
    d = data.load("digits")
    assert d.x_train.shape == (1347, 1, 8, 8) and d.x_test.shape == (450, 1, 8, 8)
    assert d.meta["normalization"]["mode"] == "mean-std"
    everything = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10).double()
    assert (torch.bincount(d.y_test, minlength=10) - everything / 4).abs().max() <= 1  # stratified
    raw = data.load("digits", normalization="none")
    assert raw.x_train.max() == 16 and raw.x_train.min() == 0
    unit = data.load("digits", normalization="unit")
    assert torch.equal(unit.x_train, raw.x_train / 16)
    assert torch.equal(data.load("digits", seed=4).y_test, d.y_test)  # a fixed split


def test_statistics_come_from_the_final_training_split():
    d = data.load("digits", val_size=300)
    assert torch.allclose(d.x_train.mean(), torch.tensor(0.0), atol=1e-5)
    assert len(d.y_train) == 1047


def test_cache_location(tmp_path, monkeypatch):
    from adaptact.data.paths import cache_root

    monkeypatch.delenv("ADAPTACT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "adaptact" / "data"
    assert cache_root(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv("ADAPTACT_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env" / "data"
    counts = {"train": {"a": 2, "b": 1}, "test": {"a": 1, "b": 1}}
    write_image_folders(tmp_path / "imgs", ["a", "b"], counts)
    (tmp_path / "cifar10").mkdir()
    tar_folder(tmp_path / "imgs", tmp_path / "cifar10" / "images.tar.gz")
    first, second = data.load("cifar10", tmp_path), data.load("cifar10", tmp_path)
    assert (first.meta["cache"], second.meta["cache"]) == ("miss", "hit")
    assert len(list((tmp_path / "env" / "data").glob("folders-RGB-images.tar.gz-*.pt"))) == 1
    assert torch.equal(first.x_train, second.x_train)


def test_validation_from_the_back_holds_out_the_last_examples():
    held = data.load("digits", val_size=100, val_from="back", normalization="none")
    full = data.load("digits", normalization="none")
    torch.testing.assert_close(held.x_val, full.x_train[-100:])
    torch.testing.assert_close(held.x_train, full.x_train[:-100])
