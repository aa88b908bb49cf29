"""Every file format the loaders read, written small by the tests themselves and read back exactly.

The ``write_*`` helpers here are also used by the other ``test_data_*`` files.
"""
from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptact import data
from adaptact.data.cifar import read_cifar_pickles
from adaptact.data.fer import FER_CLASSES
from adaptact.data.folders import read_image_folders
from adaptact.data.idx import read_idx

RAW = {"normalization": "none", "cache_dir": False}  # stored values as float32, nothing cached


# ---------------------------------------------------------------- writers


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """An IDX file (uint8 only) with the standard header; gzipped if ``gz``."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path = Path(str(path) + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


def write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True, side: int = 28, seed: int = 0):
    """The four MNIST IDX files with random pixels and labels; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


def _pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(folder: Path, per_batch: int = 3, seed: int = 0):
    """``cifar-10-batches-py`` with 5 training batches of ``per_batch`` images, a test batch and the meta file."""
    rng = np.random.default_rng(seed)
    release = folder / "cifar-10-batches-py"
    release.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).tolist()
        _pickle(release / name, {b"batch_label": name.encode(), b"data": x, b"labels": y,
                                 b"filenames": [b"f.png"] * per_batch})
        xs.append(x)
        ys.append(y)
    _pickle(release / "batches.meta", {b"label_names": [c.encode() for c in data.cifar.CIFAR10_CLASSES]})
    train_x = np.concatenate(xs[:5]).reshape(-1, 3, 32, 32)
    return train_x, np.concatenate(ys[:5]), xs[5].reshape(-1, 3, 32, 32), np.array(ys[5])


def write_cifar100(folder: Path, n: int = 6, seed: int = 1):
    """``cifar-100-python`` with ``train``, ``test`` and ``meta`` (fine and coarse labels)."""
    rng = np.random.default_rng(seed)
    release = folder / "cifar-100-python"
    release.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("train", "test"):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine, coarse = rng.integers(0, 100, n).tolist(), rng.integers(0, 20, n).tolist()
        _pickle(release / name, {b"data": x, b"fine_labels": fine, b"coarse_labels": coarse})
        out[name] = (x.reshape(-1, 3, 32, 32), np.array(fine), np.array(coarse))
    _pickle(release / "meta", {b"fine_label_names": [f"fine{i:02d}".encode() for i in range(100)],
                               b"coarse_label_names": [f"coarse{i:02d}".encode() for i in range(20)]})
    return out


def tar_folder(source: Path, archive: Path, prefix: str = "") -> Path:
    """Pack ``source``'s contents into ``archive`` (compression from the suffix), under ``prefix/`` if given."""
    mode = "w:gz" if archive.name.endswith("gz") else "w"
    with tarfile.open(archive, mode) as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(Path(prefix) / path.relative_to(source)), recursive=False)
    return archive


def write_image_folders(root: Path, classes, counts, *, mode: str = "RGB", side: int = 8, fmt: str = "png",
                        prefix=lambda split, i: f"{i:04d}", seed: int = 0):
    """``{train,test}/<class>/<prefix>.<fmt>`` images; returns ``{split: {class: [decoded uint8 (H, W, C)]}}``.

    ``counts[split][class]`` images per class. The returned arrays are what Pillow decodes
    from the written bytes (for JPEG that differs from the random pixels drawn).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    written = {}
    for split in ("train", "test"):
        written[split] = {}
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            written[split][c] = []
            for i in range(counts[split][c]):
                channels = 3 if mode == "RGB" else 1
                pixels = rng.integers(0, 256, (side, side, channels), dtype=np.uint8)
                path = root / split / c / f"{prefix(split, i)}.{fmt}"
                Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path)
                with Image.open(path) as im:
                    written[split][c].append(np.array(im.convert(mode)).reshape(side, side, channels))
    return written


def write_svhn(folder: Path, n_train: int = 7, n_test: int = 4, seed: int = 0):
    """``train_32x32.mat`` / ``test_32x32.mat`` with X (32, 32, 3, N) and y in 1..10; returns the arrays."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = np.arange(n).reshape(n, 1) % 10 + 1  # includes 10 (= digit 0) once n >= 10
        y[0, 0] = 10
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y.astype(np.uint8)})
        out[split] = (x, y)
    return out


def write_fer_csv(path: Path, usages=("Training",) * 6 + ("PublicTest",) * 2 + ("PrivateTest",) * 3, seed=0):
    """A ``fer2013.csv`` with the given Usage per row; returns ``(pixels (N, 48, 48), labels, usages)``."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (len(usages), 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, len(usages))
    lines = ["emotion,pixels,Usage"]
    for p, label, usage in zip(pixels, labels, usages):
        lines.append(f"{label},{' '.join(map(str, p.flatten()))},{usage}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return pixels, labels, list(usages)


def write_rt(folder: Path, pos, neg) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rt-polarity.pos").write_bytes(("\n".join(pos) + "\n").encode("latin-1", errors="replace"))
    (folder / "rt-polarity.neg").write_bytes(("\n".join(neg) + "\n").encode("latin-1", errors="replace"))


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    d = data.load("mnist", tmp_path, **RAW)
    for prefix, x, y in (("train", d.x_train, d.y_train), ("t10k", d.x_test, d.y_test)):
        images, labels = arrays[prefix]
        assert x.dtype == torch.float32 and x.shape == (len(images), 1, 28, 28)
        assert torch.equal(x, torch.from_numpy(images).float().unsqueeze(1))
        assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(labels).long())
    suffix = ".gz" if gz else ""
    assert d.meta["files"][0].endswith("train-images-idx3-ubyte" + suffix)


def test_idx_reads_other_types_and_shapes(tmp_path):
    a = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    header = struct.pack(">BBBB", 0, 0, 0x0C, 3) + struct.pack(">3I", 2, 3, 4)
    (tmp_path / "x.idx").write_bytes(header + a.tobytes())
    out = read_idx(tmp_path / "x.idx")
    assert out.dtype == np.int32 and np.array_equal(out, np.arange(24).reshape(2, 3, 4))


def test_fashion_mnist_alias_and_classes(tmp_path):
    write_mnist(tmp_path / "fashion-mnist")
    d = data.load("fmnist", tmp_path, **RAW)
    assert d.name == "fashion-mnist" and d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"


# ---------------------------------------------------------------- CIFAR pickles


def test_cifar10_pickles_folder_and_tarball(tmp_path):
    train_x, train_y, test_x, test_y = write_cifar10(tmp_path / "cifar10")
    d = data.load("cifar10", tmp_path, **RAW)
    assert torch.equal(d.x_train, torch.from_numpy(train_x).float())
    assert torch.equal(d.y_train, torch.from_numpy(train_y).long())
    assert torch.equal(d.x_test, torch.from_numpy(test_x).float())
    assert torch.equal(d.y_test, torch.from_numpy(test_y).long())
    assert d.classes == data.cifar.CIFAR10_CLASSES and d.meta["format"] == "python pickle"

    other = tmp_path / "packed"
    other.mkdir()
    tar_folder(tmp_path / "cifar10", other / "cifar-10-python.tar.gz")
    packed = data.load("cifar10", other, **RAW)
    assert torch.equal(packed.x_train, d.x_train) and torch.equal(packed.y_test, d.y_test)
    assert packed.meta["files"] == [str(other / "cifar-10-python.tar.gz")]


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_pickles_fine_and_coarse(tmp_path, label_mode):
    written = write_cifar100(tmp_path / "cifar100")
    d = data.load("cifar100", tmp_path, label_mode=label_mode, **RAW)
    column = 1 if label_mode == "fine" else 2
    assert torch.equal(d.x_train, torch.from_numpy(written["train"][0]).float())
    assert torch.equal(d.y_train, torch.from_numpy(written["train"][column]).long())
    assert torch.equal(d.y_test, torch.from_numpy(written["test"][column]).long())
    assert d.num_classes == (100 if label_mode == "fine" else 20)
    assert d.classes[3] == (f"{label_mode}03")


def test_cifar_pickle_with_code_is_refused(tmp_path):
    write_cifar10(tmp_path)
    release = tmp_path / "cifar-10-batches-py"
    (release / "data_batch_2").write_bytes(pickle.dumps(print))  # a global that is not a numpy array
    with pytest.raises(data.DataError, match="data_batch_2.*refusing"):
        read_cifar_pickles(release)


# ---------------------------------------------------------------- image folders


def _expected_order(written, classes, split):
    """Round-robin over classes (in label order), file order within a class."""
    per_class = [written[split][c] for c in classes]
    out = []
    for i in range(max(len(p) for p in per_class)):
        out += [(label, p[i]) for label, p in enumerate(per_class) if i < len(p)]
    return out


@pytest.mark.parametrize("fmt,packed", [("png", False), ("png", True), ("jpg", False), ("jpg", True)])
def test_image_folders_extracted_and_tar_gz(tmp_path, fmt, packed):
    classes = ["cat", "airplane", "dog"]  # not sorted: labels follow sorted names
    counts = {"train": {"cat": 3, "airplane": 2, "dog": 1}, "test": {"cat": 1, "airplane": 1, "dog": 2}}
    root = tmp_path / "cifar10"
    written = write_image_folders(root / "unpacked", classes, counts, fmt=fmt)
    if packed:
        tar_folder(root / "unpacked", root / "images.tar.gz", prefix="some-release")
        source = root / "images.tar.gz"
    else:
        source = root / "unpacked"
    read = read_image_folders(source, mode="RGB", cache_dir=False)
    assert read["classes"] == ["airplane", "cat", "dog"]
    for split in ("train", "test"):
        expected = _expected_order(written, read["classes"], split)
        assert read[split]["labels"].tolist() == [label for label, _ in expected]
        want = torch.from_numpy(np.stack([img for _, img in expected])).permute(0, 3, 1, 2)
        assert torch.equal(read[split]["images"], want)  # exact: the same decoder as the writer's check
    if packed:  # the loader finds the single archive in the data set's folder
        (root / "unpacked").rename(tmp_path / "elsewhere")
        d = data.load("cifar10", tmp_path, **RAW)
        assert d.x_train.shape == (6, 3, 8, 8) and d.meta["format"] == "image folders"


def test_image_folders_grey_and_cache(tmp_path):
    counts = {"train": {"a": 2, "b": 2}, "test": {"a": 1, "b": 1}}
    written = write_image_folders(tmp_path / "imgs", ["a", "b"], counts, mode="L")
    archive = tar_folder(tmp_path / "imgs", tmp_path / "imgs.tar")
    first = read_image_folders(archive, mode="L", cache_dir=tmp_path / "cache")
    second = read_image_folders(archive, mode="L", cache_dir=tmp_path / "cache")
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert first["train"]["images"].shape == (4, 1, 8, 8)
    assert torch.equal(first["train"]["images"], second["train"]["images"])
    assert torch.equal(first["train"]["images"][0, 0], torch.from_numpy(written["train"]["a"][0][..., 0]))
    archive.write_bytes(archive.read_bytes() + b"\0" * 1024)  # changed size: the key changes
    assert read_image_folders(archive, mode="L", cache_dir=tmp_path / "cache")["cache"] == "miss"


# ---------------------------------------------------------------- SVHN


def test_svhn_mat(tmp_path):
    written = write_svhn(tmp_path / "svhn")
    d = data.load("svhn", tmp_path, **RAW)
    x, y = written["train"]
    assert d.x_train.shape == (7, 3, 32, 32)
    assert torch.equal(d.x_train, torch.from_numpy(x.transpose(3, 2, 0, 1).copy()).float())
    assert d.x_train[2, 1, 5, 7] == float(x[5, 7, 1, 2])  # (row, col, channel, index)
    assert d.y_train.tolist() == [0] + [int(v) % 10 for v in y[1:, 0]]
    assert d.y_test.tolist() == [0, 2, 3, 4]


# ---------------------------------------------------------------- FER-2013


def test_fer_csv_released_public_private(tmp_path):
    pixels, labels, usages = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv")
    d = data.load("fer2013", tmp_path, **RAW)
    train = [i for i, u in enumerate(usages) if u == "Training"]
    test = [i for i, u in enumerate(usages) if u != "Training"]
    assert torch.equal(d.x_train, torch.from_numpy(pixels[train]).float().unsqueeze(1))
    assert d.y_train.tolist() == labels[train].tolist() and d.y_test.tolist() == labels[test].tolist()
    assert d.classes == FER_CLASSES and d.meta["usage_counts"] == {"Training": 6, "PublicTest": 2, "PrivateTest": 3}
    assert len(data.load("fer2013", tmp_path, split="public", **RAW).y_test) == 2
    private = data.load("fer2013", tmp_path, split="private", **RAW)
    assert private.y_test.tolist() == labels[8:].tolist()


def test_fer_train_80_20_ignores_released_test(tmp_path):
    usages = ("Training",) * 20 + ("PublicTest",) * 3
    pixels, labels, _ = write_fer_csv(tmp_path / "fer2013.csv", usages)
    d = data.load("fer2013", tmp_path, split="train-80-20", **RAW)
    assert (len(d.y_train), len(d.y_test)) == (16, 4)
    seen = torch.cat([d.x_train, d.x_test]).flatten(1)
    expected = torch.from_numpy(pixels[:20]).float().flatten(1)
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, expected.tolist()))  # only Training rows
    again = data.load("fer2013", tmp_path, split="train-80-20", seed=5, **RAW)  # seed does not move the split
    assert torch.equal(again.y_test, d.y_test)
    other = data.load("fer2013", tmp_path, split="train-80-20", split_seed=1, **RAW)
    assert not torch.equal(other.x_test, d.x_test)


def test_fer_image_folders_in_standard_class_order(tmp_path):
    counts = {"train": {c: 1 for c in FER_CLASSES}, "test": {c: 1 for c in FER_CLASSES}}

    def prefix(split, i):
        return ("Training" if split == "train" else ("PublicTest" if i % 2 else "PrivateTest")) + "_1"

    write_image_folders(tmp_path / "imgs", FER_CLASSES, counts, mode="L", side=48, fmt="jpg", prefix=prefix)
    (tmp_path / "fer2013").mkdir()
    tar_folder(tmp_path / "imgs", tmp_path / "fer2013" / "fer.tar.gz")
    d = data.load("fer2013", tmp_path, **RAW)
    assert d.x_train.shape == (7, 1, 48, 48)
    assert d.y_train.tolist() == list(range(7))  # angry, disgust, ..., neutral: not alphabetical
    assert d.meta["usage_counts"] == {"Training": 7, "PublicTest": 0, "PrivateTest": 7}


# ---------------------------------------------------------------- rt-polarity


def test_rt_polarity_text_files(tmp_path):
    pos = [f"a good film number {i} ." for i in range(10)]
    neg = [f"a bad film , number {i} !" for i in range(9)] + ["caf\u00e9 isn't good"]  # a Latin-1 byte
    write_rt(tmp_path / "rt-polarity", pos, neg)
    d = data.load("mr", tmp_path, folds=5, fold=0)
    assert d.name == "rt-polarity" and d.classes == ["negative", "positive"]
    assert (len(d.y_train), len(d.y_test)) == (16, 4) and d.y_test.sum() == 2
    assert d.x_train.dtype == torch.int64 and d.x_train.shape[1] == d.meta["max_len"] == 7
    vocab = {w: i for i, w in enumerate(d.vocab)}
    assert d.vocab[:2] == ["<pad>", "<unk>"] and d.meta["vocab_size"] == len(d.vocab)
    sentences = [[d.vocab[i] for i in row if i != 0] for row in d.x_train.tolist()]
    assert ["caf", "is", "n't", "good"] in sentences  # the Latin-1 byte became a replacement char, then a space
    assert all(vocab["film"] == row[2] for row in d.x_train.tolist() if row[0] == vocab["a"])


# ---------------------------------------------------------------- tar reading does not need seekable files


def test_archive_is_streamed_not_extracted(tmp_path):
    counts = {"train": {"x": 1}, "test": {"x": 1}}
    write_image_folders(tmp_path / "imgs", ["x"], counts)
    archive = tar_folder(tmp_path / "imgs", tmp_path / "imgs.tar.gz")
    before = set(tmp_path.rglob("*"))
    read_image_folders(archive, cache_dir=False)
    assert set(tmp_path.rglob("*")) == before
    with tarfile.open(archive) as tar:  # members keep their folder names
        assert any(n.endswith("train/x/0000.png") for n in tar.getnames())
