"""Data for the experiments: local files -> tensors on the device, plus on-device augmentation and batching.

>>> import torch
>>> from adaptact import data
>>> d = data.load("mnist", "/path/to/data", resize=32, val_size=5000)   # or $ADAPTACT_DATA
>>> d.x_train.shape, d.meta["normalization"]
>>> g = torch.Generator().manual_seed(0)
>>> for idx in data.batches(len(d.y_train), 64, generator=g):
...     x = data.random_rotation(d.x_train[idx], 30, g, fill=d.meta["normalization"]["black"][0])

A user's data: :func:`register_dataset` (or an import path ``my_pkg.data:load`` as the name), and the
built-in ``image-folder`` (``train/<class>/*``, ``test/<class>/*``) and ``csv`` data sets.

Nothing is downloaded at import or by :func:`load`; :func:`fetch` downloads official
release files only when called.
"""
from adaptact.data.augment import random_crop, random_flip, random_rotation
from adaptact.data.batching import batches
from adaptact.data.catalog import dataset_info, list_datasets, register_dataset
from adaptact.data.errors import DataError
from adaptact.data.fetch import fetch
from adaptact.data.loader import load
from adaptact.data.preprocess import NORMALIZATIONS
from adaptact.data.record import TensorData
from adaptact.data.text import clean_str

__all__ = [
    "NORMALIZATIONS",
    "DataError",
    "TensorData",
    "batches",
    "clean_str",
    "dataset_info",
    "fetch",
    "list_datasets",
    "load",
    "random_crop",
    "random_flip",
    "random_rotation",
    "register_dataset",
]
