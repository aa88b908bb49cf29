"""The data sets :func:`adaptact.data.load` knows: names, aliases, readers, default normalisation, where to get them."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from adaptact.data.cifar import read_cifar
from adaptact.data.csv_table import read_csv_table
from adaptact.data.folders import read_image_folders
from adaptact.naming import import_object, is_import_path, resolve_name
from adaptact.data.digits import read_digits
from adaptact.data.fer import read_fer2013
from adaptact.data.idx import FASHION_CLASSES, read_mnist_like
from adaptact.data.imagenet import read_imagenet, read_imagenet_synthetic
from adaptact.data.svhn import read_svhn
from adaptact.data.teacher import read_teacher
from adaptact.data.text import read_rt_polarity
from adaptact.data.record import RawData
from adaptact.data.user import reader_for

__all__ = ["DatasetInfo", "dataset_info", "list_datasets", "register_dataset"]

DIGIT_CLASSES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class DatasetInfo:
    """One data set.

    Attributes:
        name: canonical name.
        description: one line for listings.
        read: the reader; takes ``folders`` first if the data set needs files, ``cache_dir``
            if it caches, and its own keyword-only options.
        folders: sub-folders of the data directory searched before the directory itself.
        normalization, mean, std: the default normalisation (see :mod:`adaptact.data.preprocess`)
            and the paper it follows.
        obtain: how to get the files, for error messages.
        aliases: other accepted names.
    """

    name: str
    description: str
    read: Callable[..., Any]
    folders: tuple[str, ...] = ()
    normalization: str = "mean-std"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    obtain: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def needs_files(self) -> bool:
        return "folders" in inspect.signature(self.read).parameters

    def options(self) -> dict[str, Any]:
        """The data-set-specific keyword options and their defaults."""
        params = inspect.signature(self.read).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name != "cache_dir"}


def _mnist(folders: Sequence[Path]):
    return read_mnist_like(folders, DIGIT_CLASSES)


def _fashion(folders: Sequence[Path]):
    return read_mnist_like(folders, FASHION_CLASSES)


def _cifar10(folders: Sequence[Path], *, cache_dir=None):
    return read_cifar(folders, 10, cache_dir=cache_dir)


def _cifar100(folders: Sequence[Path], *, label_mode: str = "fine", cache_dir=None):
    return read_cifar(folders, 100, label_mode=label_mode, cache_dir=cache_dir)


def _image_folder(folders: Sequence[Path], *, mode: str = "RGB", cache_dir=None) -> RawData:
    read = read_image_folders(folders[-1], mode=mode, cache_dir=cache_dir)
    return RawData(read["train"]["images"], read["train"]["labels"], read["test"]["images"],
                   read["test"]["labels"], read["classes"], files=read["files"],
                   meta={"format": "image folders", "cache": read["cache"]})


_FETCH = "or run adaptact.data.fetch({name!r}, DATA_DIR), which downloads the official files into DATA_DIR/{folder}"
_ENTRIES = [
    DatasetInfo(
        "mnist", "MNIST handwritten digits, 60k/10k, 28x28 grey (four IDX files)", _mnist,
        ("mnist", "MNIST", "MNIST/raw"), "mean-std", (0.1307,), (0.3081,),
        "the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz from Yann LeCun's MNIST page (yann.lecun.com/exdb/mnist; mirror "
        "ossci-datasets.s3.amazonaws.com/mnist) into DATA_DIR/mnist, " + _FETCH.format(name="mnist", folder="mnist"),
    ),
    DatasetInfo(
        "fashion-mnist", "Zalando's Fashion-MNIST, 60k/10k, 28x28 grey (four IDX files)", _fashion,
        ("fashion-mnist", "fmnist", "FashionMNIST/raw", "fashion"), "minus-one-one",
        obtain="the four IDX .gz files of Zalando's Fashion-MNIST (github.com/zalandoresearch/fashion-mnist, files "
        "at fashion-mnist.s3-website.eu-central-1.amazonaws.com; Debian package dataset-fashion-mnist) into "
        "DATA_DIR/fashion-mnist, " + _FETCH.format(name="fashion-mnist", folder="fashion-mnist"),
        aliases=("fmnist", "fashion_mnist", "fashionmnist"),
    ),
    DatasetInfo(
        "cifar10", "CIFAR-10, 50k/10k, 32x32 RGB, 10 classes (python pickles or image folders)", _cifar10,
        ("cifar10", "cifar-10", "CIFAR10"), "per-image",
        obtain="the python version cifar-10-python.tar.gz from Alex Krizhevsky's CIFAR page "
        "(www.cs.toronto.edu/~kriz/cifar.html), kept as the tarball or extracted (cifar-10-batches-py) in "
        "DATA_DIR/cifar10, or image folders train/<class>/*.jpg and test/<class>/*.jpg (a folder or one tar "
        "archive), " + _FETCH.format(name="cifar10", folder="cifar10"),
        aliases=("cifar-10",),
    ),
    DatasetInfo(
        "cifar100", "CIFAR-100, 50k/10k, 32x32 RGB, 100 fine / 20 coarse classes (python pickles or image folders)",
        _cifar100, ("cifar100", "cifar-100", "CIFAR100"), "per-image",
        obtain="the python version cifar-100-python.tar.gz from Alex Krizhevsky's CIFAR page "
        "(www.cs.toronto.edu/~kriz/cifar.html), kept as the tarball or extracted (cifar-100-python) in "
        "DATA_DIR/cifar100, " + _FETCH.format(name="cifar100", folder="cifar100"),
        aliases=("cifar-100",),
    ),
    DatasetInfo(
        "svhn", "Street View House Numbers, cropped digits, 73k/26k, 32x32 RGB (.mat files)", read_svhn,
        ("svhn", "SVHN"), "minus-one-one",
        obtain="train_32x32.mat and test_32x32.mat ('Format 2: cropped digits') from the SVHN page "
        "(ufldl.stanford.edu/housenumbers) into DATA_DIR/svhn, " + _FETCH.format(name="svhn", folder="svhn"),
    ),
    DatasetInfo(
        "fer2013", "FER-2013 facial expressions, 28,709/7,178, 48x48 grey, 7 classes (csv or image folders)",
        read_fer2013, ("fer2013", "fer-2013", "FER2013", "fer"), "minus-one-one",
        obtain="fer2013.csv (or its image-folder version train/<emotion>/*.jpg, test/<emotion>/*.jpg) from the "
        "Kaggle competition 'Challenges in Representation Learning: Facial Expression Recognition Challenge' "
        "(kaggle.com; needs an account, so fetch() cannot get it) into DATA_DIR/fer2013",
        aliases=("fer-2013", "fer"),
    ),
    DatasetInfo(
        "rt-polarity", "Pang & Lee sentence polarity (Movie Review), 10,662 sentences, k-fold cross-validation",
        read_rt_polarity, ("rt-polarity", "rt-polaritydata", "mr"), "none",
        obtain="rt-polaritydata.tar.gz ('sentence polarity dataset v1.0') from Bo Pang and Lillian Lee's "
        "movie-review data page (www.cs.cornell.edu/people/pabo/movie-review-data); put its rt-polarity.pos "
        "and rt-polarity.neg into DATA_DIR/rt-polarity, "
        + _FETCH.format(name="rt-polarity", folder="rt-polarity") + " and unpacks the two files",
        aliases=("mr", "rt_polarity", "movie-review"),
    ),
    DatasetInfo(
        "imagenet", "ImageNet ILSVRC-2012, 1.28M/50k, 1000 classes (image folders, streamed from disk: "
        "random resized crop + flip for training, resize 256 + centre crop 224 for evaluation)", read_imagenet,
        ("imagenet", "ImageNet", "ILSVRC2012", "ilsvrc2012"), "mean-std",
        obtain="ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from image-net.org (needs an account, so "
        "fetch() cannot get them); unpack the training images to DATA_DIR/imagenet/train/<wnid>/*.JPEG (the "
        "training tar holds one tar per class) and the validation images to DATA_DIR/imagenet/val/<wnid>/*.JPEG "
        "(sorted into class folders, e.g. with the valprep.sh script of PyTorch's ImageNet example)",
        aliases=("ilsvrc2012",),
    ),
    DatasetInfo(
        "imagenet-synthetic", "a tiny synthetic ImageNet-layout folder (8 classes of coloured JPEGs, written "
        "into the cache folder), streamed like imagenet: smoke runs (needs no files)", read_imagenet_synthetic,
        normalization="mean-std",
    ),
    DatasetInfo(
        "digits", "scikit-learn's bundled 8x8 digits, 1,347/450 stratified split (needs no files)", read_digits,
        normalization="mean-std",
    ),
    DatasetInfo(
        "teacher", "synthetic teacher-network data of Farhadi et al. (binary labels; needs no files)",
        read_teacher, normalization="none", aliases=("farhadi-teacher",),
    ),
    DatasetInfo(
        "image-folder", "your images: DATA_DIR/train/<class>/*.png|jpg and DATA_DIR/test/<class>/*, one size "
        "(or one tar archive of that layout)", _image_folder, normalization="mean-std", aliases=("imagefolder",),
        obtain="put your images in DATA_DIR/train/<class>/ and DATA_DIR/test/<class>/ (JPEG or PNG, all of one "
        "size; `resize` rescales them after loading), and give --data-dir DATA_DIR",
    ),
    DatasetInfo(
        "csv", "your table: a CSV with a header, numeric feature columns and a label column (train= / test= files)",
        read_csv_table, normalization="mean-std", aliases=("csv-table",),
        obtain="give the file with data_options train=FILE (absolute, or relative to --data-dir), optionally "
        "test=FILE and label=COLUMN",
    ),
]
_BY_NAME = {e.name: e for e in _ENTRIES}
_ALIASES = {a: e.name for e in _ENTRIES for a in e.aliases}


#: data sets added by :func:`register_dataset` (and import paths already resolved), by name
_USER: dict[str, DatasetInfo] = {}


def register_dataset(name: str, loader: Callable[..., Any] | None = None, *, description: str = "",
                     normalization: str = "mean-std"):
    """Add a user's data set under ``name``; usable as ``register_dataset("mine", load_mine)`` or as a decorator.

    ``loader(**options)`` (plus ``data_dir`` if it wants the data directory) returns tensors or torch
    Datasets, see :mod:`adaptact.data.user`; its keyword arguments become the data set's options
    (``data_options`` / ``--data-option``). ``normalization`` is the default of :func:`adaptact.data.load`
    (``"none"`` if the loader already normalises). A built-in name cannot be taken; registering again replaces it.
    """
    if loader is None:
        return lambda f: register_dataset(name, f, description=description, normalization=normalization) or f
    key = str(name).strip().lower()
    if not key or ":" in key:
        raise ValueError(f"data set name {name!r} must be a plain name (import paths need no registration)")
    if key in _BY_NAME or key in _ALIASES:
        raise ValueError(f"data set {name!r} is built in; register yours under another name")
    _USER[key] = _user_entry(key, loader, description, normalization)
    return loader


def registered_origins() -> dict[str, str]:
    """``name -> module`` of the loader of every data set added by :func:`register_dataset` (what workers import)."""
    return {name: e.read.origin for name, e in _USER.items() if not is_import_path(name)}


def _user_entry(name: str, loader: Callable[..., Any], description: str, normalization: str) -> DatasetInfo:
    doc = (getattr(loader, "__doc__", None) or "").strip().splitlines()
    read = reader_for(name, loader)
    read.origin = getattr(loader, "__module__", None) or "?"  # type: ignore[attr-defined]
    return DatasetInfo(name, description or (doc[0] if doc else f"user data set {name}"), read,
                       normalization=normalization,
                       obtain=f"the loader {getattr(loader, '__module__', '?')}.{getattr(loader, '__qualname__', '?')}")


def dataset_info(name: str) -> DatasetInfo:
    """The entry for ``name`` or an alias (case-insensitive), a registered name, or an import path
    ``package.module:loader`` to a user's loader (attribute ``normalization`` optional).

    Raises:
        ValueError: unknown name; the message lists the valid names and aliases.
    """
    if is_import_path(name):
        if name not in _USER:
            loader = import_object(name, "data loader")
            _USER[name] = _user_entry(name, loader, "", getattr(loader, "normalization", "mean-std"))
        return _USER[name]
    table = {**_BY_NAME, **_USER}
    return table[resolve_name(name, table, _ALIASES, "data set")]


def list_datasets() -> dict[str, dict[str, Any]]:
    """``name -> {"description", "needs_files", "aliases", "normalization", "options"}`` for every data set
    (built-in and registered)."""
    return {
        e.name: {"description": e.description, "needs_files": e.needs_files, "aliases": list(e.aliases),
                 "normalization": e.normalization, "options": e.options()}
        for e in _ENTRIES + [e for key, e in _USER.items() if not is_import_path(key)]
    }
