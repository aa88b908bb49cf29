"""Missing or damaged files and bad arguments give errors that name the file and say how to get the data."""
from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest
from test_data_files import RAW, tar_folder, write_cifar10, write_fer_csv, write_image_folders, write_mnist, write_rt

from adaptact import data


def _no_env(monkeypatch):
    monkeypatch.delenv("ADAPTACT_DATA", raising=False)


def test_data_error_is_a_value_error():
    assert issubclass(data.DataError, ValueError)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        data.load("cifar11")
    msg = str(err.value)
    assert "'cifar11'" in msg and "Did you mean 'cifar10'" in msg
    for name in ("mnist", "fashion-mnist", "cifar100", "svhn", "fer2013", "rt-polarity", "digits", "teacher"):
        assert name in msg
    assert "fmnist -> fashion-mnist" in msg and "mr -> rt-polarity" in msg


def test_unknown_option_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['fold_count'\].*folds=10.*fold=0"):
        data.load("rt-polarity", fold_count=3)
    with pytest.raises(ValueError, match=r"\['label_mode'\] for data set 'cifar10'"):
        data.load("cifar10", label_mode="coarse")


def test_no_data_directory(monkeypatch):
    _no_env(monkeypatch)
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert "no data directory" in msg and "--data-dir" in msg and "ADAPTACT_DATA" in msg
    assert "yann.lecun.com/exdb/mnist" in msg


def test_data_directory_from_the_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("ADAPTACT_DATA", str(tmp_path))
    assert len(data.load("mnist", **RAW).y_train) == 12


def test_missing_file_is_named_with_where_to_get_it(tmp_path):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError) as err:
        data.load("mnist", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz") in msg
    assert "yann.lecun.com/exdb/mnist" in msg and "fetch('mnist'" in msg
    assert "--data-dir" in msg and "ADAPTACT_DATA" in msg


@pytest.mark.parametrize("name,folder,address", [
    ("cifar10", "cifar10", "www.cs.toronto.edu/~kriz/cifar.html"),
    ("cifar100", "cifar100", "cifar-100-python.tar.gz"),
    ("svhn", "svhn", "ufldl.stanford.edu/housenumbers"),
    ("fer2013", "fer2013", "Facial Expression Recognition Challenge"),
    ("rt-polarity", "rt-polarity", "www.cs.cornell.edu/people/pabo/movie-review-data"),
    ("fashion-mnist", "fashion-mnist", "github.com/zalandoresearch/fashion-mnist"),
])
def test_every_file_data_set_says_how_to_get_it(tmp_path, name, folder, address):
    (tmp_path / folder).mkdir()
    with pytest.raises(data.DataError) as err:
        data.load(name, tmp_path)
    msg = str(err.value)
    assert address in msg and str(tmp_path / folder) in msg and "ADAPTACT_DATA" in msg


@pytest.mark.parametrize("damage,pattern", [
    (lambda b: b"\x00\x00\x07\x03" + b[4:], "not an IDX file"),     # bad type code
    (lambda b: b"\x08\x00" + b[2:], "not an IDX file"),             # bad magic
    (lambda b: b[:-5], "size mismatch"),                            # truncated
    (lambda b: b + b"\x00", "size mismatch"),                       # padded
    (lambda b: b[:16], "size mismatch"),                            # header only
])
def test_damaged_idx_file(tmp_path, damage, pattern):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DataError, match=pattern) as err:
        data.load("mnist", tmp_path)
    assert str(path) in str(err.value) and "yann.lecun.com" in str(err.value)


def test_damaged_gzip_and_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(data.DataError, match="damaged gzip") as err:
        data.load("mnist", tmp_path)
    assert str(path) in str(err.value)
    write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(raw[:4] + (4).to_bytes(4, "big") + raw[8:12]))
    with pytest.raises(data.DataError, match="5 images but .*t10k-labels-idx1-ubyte.gz has 4 labels"):
        data.load("mnist", tmp_path)


def test_damaged_cifar_pickle(tmp_path):
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(b"not a pickle at all")
    with pytest.raises(data.DataError) as err:
        data.load("cifar10", tmp_path)
    assert str(batch) in str(err.value) and "not a CIFAR python pickle" in str(err.value)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(data.DataError, match="test_batch"):
        data.load("cifar10", tmp_path)


def test_damaged_image_in_archive_is_named(tmp_path):
    counts = {"train": {"a": 2}, "test": {"a": 1}}
    write_image_folders(tmp_path / "imgs", ["a"], counts, fmt="jpg")
    (tmp_path / "imgs" / "train" / "a" / "0001.jpg").write_bytes(b"\xff\xd8 broken")
    (tmp_path / "cifar10").mkdir()
    tar_folder(tmp_path / "imgs", tmp_path / "cifar10" / "images.tar.gz")
    with pytest.raises(data.DataError, match=r"images\.tar\.gz:train/a/0001\.jpg: cannot decode"):
        data.load("cifar10", tmp_path, cache_dir=False)


def test_damaged_archive_is_named(tmp_path):
    (tmp_path / "cifar10").mkdir()
    archive = tmp_path / "cifar10" / "images.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00 this is no tarball")
    with pytest.raises(data.DataError, match="images.tar.gz: cannot read the archive"):
        data.load("cifar10", tmp_path, cache_dir=False)


def test_images_of_different_sizes(tmp_path):
    counts = {"train": {"a": 1}, "test": {"a": 1}}
    write_image_folders(tmp_path / "one", ["a"], counts, side=8)
    write_image_folders(tmp_path / "two", ["a"], counts, side=9)
    (tmp_path / "two" / "train" / "a" / "0000.png").rename(tmp_path / "one" / "train" / "a" / "0001.png")
    with pytest.raises(data.DataError, match=r"0001\.png: image size \(9, 9\) differs"):
        data.load("cifar10", tmp_path / "one", cache_dir=False)


def test_damaged_svhn_mat(tmp_path):
    from scipy.io import savemat

    (tmp_path / "train_32x32.mat").write_bytes(b"MATLAB 5.0 garbage")
    savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])})
    with pytest.raises(data.DataError, match="train_32x32.mat: cannot read"):
        data.load("svhn", tmp_path)
    savemat(tmp_path / "train_32x32.mat", {"images": np.zeros(3)})
    with pytest.raises(data.DataError, match="train_32x32.mat: expected variables 'X' and 'y'"):
        data.load("svhn", tmp_path)
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [2]])})
    with pytest.raises(data.DataError, match=r"test_32x32.mat: labels must lie in 1..10"):
        data.load("svhn", tmp_path)


def test_damaged_fer_csv(tmp_path):
    path = tmp_path / "fer2013.csv"
    write_fer_csv(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [lines[3].replace(" ", " x", 1)] + lines[4:]))
    with pytest.raises(data.DataError, match=r"fer2013.csv, line 4: cannot parse"):
        data.load("fer2013", tmp_path, cache_dir=False)
    path.write_text("\n".join(lines[:2] + [lines[2].replace(",Training", ",Validation")] + lines[3:]))
    with pytest.raises(data.DataError, match=r"line 3: emotion .* or Usage 'Validation' not recognised"):
        data.load("fer2013", tmp_path, cache_dir=False)
    path.write_text("label,image\n1,2\n")
    with pytest.raises(data.DataError, match="expected the columns emotion,pixels,Usage"):
        data.load("fer2013", tmp_path, cache_dir=False)


def test_fer_public_split_needs_usage_prefixes(tmp_path):
    counts = {"train": {"angry": 1}, "test": {"angry": 1}}
    write_image_folders(tmp_path, ["angry"], counts, mode="L", side=48)
    with pytest.raises(data.DataError, match="PublicTest_/PrivateTest_ prefix"):
        data.load("fer2013", tmp_path, split="public", cache_dir=False)
    with pytest.raises(ValueError, match="split must be one of released, public, private, train-80-20"):
        data.load("fer2013", tmp_path, split="validation", cache_dir=False)


def test_unknown_class_folder(tmp_path):
    counts = {"train": {"angry": 1, "bored": 1}, "test": {"angry": 1, "bored": 1}}
    write_image_folders(tmp_path, ["angry", "bored"], counts, mode="L", side=48)
    with pytest.raises(data.DataError, match=r"class folder\(s\) \['bored'\]"):
        data.load("fer2013", tmp_path, cache_dir=False)


def test_missing_rt_polarity_file(tmp_path):
    write_rt(tmp_path, ["good"], ["bad"])
    (tmp_path / "rt-polarity.neg").unlink()
    with pytest.raises(data.DataError) as err:
        data.load("rt-polarity", tmp_path)
    assert str(tmp_path / "rt-polarity.neg") in str(err.value)
    assert "movie-review-data" in str(err.value)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"val_from": "middle"}, "val_from must be one of"),
    ({"val_size": 2000}, r"val_size must lie in \[0, 1347\]"),
    ({"val_size": 1.5}, r"fraction must lie in \[0, 1\]"),
    ({"val_size": "10"}, "int count or a float fraction"),
    ({"train_subset": -1}, "train_subset must lie in"),
    ({"normalization": "z-score"}, "normalization must be one of per-image, mean-std"),
    ({"normalization": "unit", "mean": 0.5}, "mean=/std= only apply to normalization='mean-std'"),
    ({"mean": 0.5}, "give both mean= and std="),
    ({"mean": (0.1, 0.2), "std": (1, 1)}, "mean needs 1 or 1 values"),
    ({"mean": 0.1, "std": 0.0}, "std must be positive"),
    ({"resize": 0}, "resize must be a positive int"),
])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load("digits", **kwargs)


def test_resize_and_normalization_do_not_apply_to_text_or_vectors(tmp_path):
    write_rt(tmp_path, ["good one", "fine"], ["bad one", "poor"])
    with pytest.raises(ValueError, match="is text"):
        data.load("rt-polarity", tmp_path, folds=2, normalization="unit")
    with pytest.raises(ValueError, match="resize only applies to images"):
        data.load("teacher", samples=100, resize=4)


def test_import_and_builtin_data_need_no_network():
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise RuntimeError('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "import adaptact.data as d\n"
        "print(len(d.load('digits').y_train), len(d.load('teacher', samples=50).y_test))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1347", "10"]
