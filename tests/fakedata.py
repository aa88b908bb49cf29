"""A tiny data root in the standard released formats, written by the tests (no real data needed).

Data sets with a few images per class: MNIST and Fashion-MNIST (gzipped IDX), CIFAR-10
(image folders of PNGs), CIFAR-100 (python pickles), FER-2013 (fer2013.csv) and rt-polarity
(two text files) with a tiny word2vec binary file of vectors. SVHN is left out on purpose:
experiments must report it as unavailable.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np


def _idx(path: Path, array: np.ndarray) -> None:
    dims = struct.pack(">" + "I" * array.ndim, *array.shape)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    with gzip.open(path, "wb") as f:
        f.write(header + dims + array.astype(np.uint8).tobytes())


def _mnist_like(folder: Path, rng: np.random.Generator, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        images[np.arange(n), labels, :] = 255  # a class-dependent stripe: learnable
        _idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        _idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _cifar10_folders(folder: Path, rng: np.random.Generator, per_class: int) -> None:
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for split, n in (("train", per_class), ("test", max(1, per_class // 2))):
        for c, name in enumerate(classes):
            d = folder / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 256, (32, 32, 3))
                img[c * 3 : c * 3 + 3] = 255
                (d / f"{i:04d}.png").write_bytes(_png(img))


def _cifar100(folder: Path, rng: np.random.Generator, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        data = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                b"fine_labels": list(np.arange(n) % 100), b"coarse_labels": list(np.arange(n) % 20)}
        (folder / split).write_bytes(pickle.dumps(data))
    meta = {b"fine_label_names": [f"c{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"s{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))


def _fer_csv(folder: Path, rng: np.random.Generator, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    for usage, n in (("Training", n_train), ("PublicTest", n_test), ("PrivateTest", n_test)):
        for i in range(n):
            pixels = " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))
            lines.append(f"{i % 7},{pixels},{usage}")
    (folder / "fer2013.csv").write_text("\n".join(lines) + "\n")


def _rt_polarity(folder: Path, rng: np.random.Generator, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    good = ["a wonderful , moving film", "brilliant acting and a sharp script", "it's a joy to watch"]
    bad = ["a dull , lifeless mess", "the plot doesn't work at all", "boring and far too long"]
    for name, pool in (("rt-polarity.pos", good), ("rt-polarity.neg", bad)):
        lines = [f"{pool[i % 3]} {rng.integers(0, 50)}" for i in range(n)]
        (folder / name).write_text("\n".join(lines) + "\n")


def write_word2vec_binary(path: Path, vectors: dict, newline: bool = True) -> Path:
    """A word2vec binary file: ``"N D\\n"``, then per word ``word + " "`` + D float32 little-endian (+ ``"\\n"``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dim = len(next(iter(vectors.values())))
    body = b"".join(w.encode("utf-8") + b" " + np.asarray(v, dtype="<f4").tobytes() + (b"\n" if newline else b"")
                    for w, v in vectors.items())
    path.write_bytes(f"{len(vectors)} {dim}\n".encode() + body)
    return path


def _word2vec(path: Path, rng: np.random.Generator, dim: int = 8) -> None:
    words = ["film", "a", "dull", "boring", "joy", "brilliant", "the", "mess", "script", "unused", "Film"]
    write_word2vec_binary(path, {w: rng.standard_normal(dim).tolist() for w in words})


def write_fake_data_root(root: Path, seed: int = 0) -> Path:
    """Write every fake data set under ``root`` and return it."""
    rng = np.random.default_rng(seed)
    _mnist_like(root / "mnist", rng, 60, 20)
    _mnist_like(root / "fashion-mnist", rng, 60, 20)
    _cifar10_folders(root / "cifar10", rng, 4)
    _cifar100(root / "cifar-100-python", rng, 60, 20)
    _fer_csv(root / "fer2013", rng, 42, 14)
    _rt_polarity(root / "rt-polarity", rng, 30)
    _word2vec(root / "word2vec" / "GoogleNews-vectors-negative300.bin", rng)
    return root
