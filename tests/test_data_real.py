"""The loaders on the real data sets, where present: counts, label ranges, normalisation, the cache.

The data directory is ``$ADAPTACT_DATA`` or else ``/work/shared/data`` if it exists; each
test skips (saying why) when its data set's folder is absent. Decoded JPEGs are cached
under ``$ADAPTACT_CACHE`` if set, else in a folder shared by this run's pytest workers, so
the slow first decode (CIFAR-10 about 12 s, FER-2013 about 6 s on 2 cores) happens once per run.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from adaptact import data


def _data_dir() -> Path | None:
    if os.environ.get("ADAPTACT_DATA"):
        return Path(os.environ["ADAPTACT_DATA"])
    default = Path("/work/shared/data")
    return default if default.is_dir() else None


DATA = _data_dir()


def need(folder: str) -> Path:
    if DATA is None:
        pytest.skip("no real data: set ADAPTACT_DATA to the folder holding the data sets")
    if not (DATA / folder).is_dir():
        pytest.skip(f"real data set not present: {DATA / folder}")
    return DATA


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path | None:
    if os.environ.get("ADAPTACT_CACHE"):
        return None  # the library's default: $ADAPTACT_CACHE/data
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    return base / "adaptact-cache"


MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_counts_and_paper_normalisation():
    d = data.load("mnist", need("mnist"))
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.meta["class_counts"]["train"] == MNIST_TRAIN and d.meta["class_counts"]["test"] == MNIST_TEST
    assert int(d.y_train.min()) == 0 and int(d.y_train.max()) == 9
    # the default uses the published constants 0.1307 / 0.3081: the training split ends near 0 / 1
    assert abs(float(d.x_train.mean())) < 1e-3 and abs(float(d.x_train.std()) - 1) < 1e-3


def test_mnist_measured_statistics_are_the_published_ones():
    d = data.load("mnist", need("mnist"), normalization="mean-std")
    info = d.meta["normalization"]
    assert (round(info["mean"][0], 4), round(info["std"][0], 4)) == (0.1307, 0.3081)
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std(correction=0)) - 1) < 1e-4


def test_mnist_resize_validation_and_subsets():
    d = data.load("mnist", need("mnist"), resize=32, val_size=5000, train_subset=2000, test_subset=500)
    assert d.x_train.shape == (2000, 1, 32, 32) and d.x_val.shape == (5000, 1, 32, 32)
    assert d.x_test.shape == (500, 1, 32, 32) and d.meta["released_sizes"] == {"train": 60000, "test": 10000}


def test_fashion_mnist():
    d = data.load("fmnist", need("fashion-mnist"))
    assert d.x_train.shape == (60000, 1, 28, 28) and len(d.y_test) == 10000
    assert d.meta["class_counts"]["train"] == [6000] * 10 and d.meta["class_counts"]["test"] == [1000] * 10
    assert float(d.x_train.min()) == -1.0 and float(d.x_train.max()) == 1.0  # AdAct's mean 0.5 / std 0.5


@pytest.mark.slow
def test_cifar10_jpeg_folders_and_cache(cache):
    root = need("cifar10")
    d = data.load("cifar10", root, cache_dir=cache)
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert d.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert d.meta["class_counts"]["train"] == [5000] * 10 and d.meta["class_counts"]["test"] == [1000] * 10
    assert d.y_train[:10].tolist() == list(range(10))  # interleaved: a front validation slice is balanced
    flat = d.x_train.flatten(1)
    assert float(flat.mean(1).abs().max()) < 1e-4
    std = flat.std(1, correction=0)
    assert float((std - 1).abs().max()) < 1e-4  # no CIFAR image is flat enough for the std floor
    again = data.load("cifar10", root, cache_dir=cache)  # decoding takes ~12 s, a cached load ~1 s (not timed here)
    assert again.meta["cache"] == "hit" and torch.equal(again.x_test, d.x_test)


@pytest.mark.slow
def test_fer2013_image_folders_and_splits(cache):
    root = need("fer2013")
    d = data.load("fer2013", root, cache_dir=cache)
    assert d.x_train.shape == (28709, 1, 48, 48) and d.x_test.shape == (7178, 1, 48, 48)
    assert d.meta["usage_counts"] == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert d.meta["class_counts"]["train"] == [3995, 436, 4097, 7215, 4830, 3171, 4965]  # angry ... neutral
    assert d.meta["class_counts"]["test"] == [958, 111, 1024, 1774, 1247, 831, 1233]
    assert float(d.x_train.min()) == -1.0 and float(d.x_train.max()) == 1.0
    adact = data.load("fer2013", root, split="train-80-20", cache_dir=cache)
    assert (len(adact.y_train), len(adact.y_test)) == (22967, 5742) and adact.meta["cache"] == "hit"
    assert len(data.load("fer2013", root, split="private", cache_dir=cache).y_test) == 3589


def test_rt_polarity_folds():
    root = need("rt-polarity")
    d = data.load("rt-polarity", root)
    assert len(d.y_train) + len(d.y_test) == 10662 and len(d.y_test) in (1066, 1067)
    assert d.meta["max_len"] == 56 and d.x_train.shape == (len(d.y_train), 56)  # Kim's max_l for MR
    assert 17000 < d.meta["vocab_size"] < 19000 and int(d.x_train.max()) < d.meta["vocab_size"]
    assert abs(int(d.y_test.sum()) - len(d.y_test) / 2) <= 1
    other = data.load("mr", root, fold=9)
    assert len(set(map(tuple, other.x_test.tolist())) & set(map(tuple, d.x_test.tolist()))) < 5  # rare repeats
