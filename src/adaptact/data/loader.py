"""``load``: a named data set as :class:`TensorData` on a device: read, split, subset, normalise once."""
from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from adaptact.data.catalog import dataset_info
from adaptact.data.errors import WHERE_HINT, DataError
from adaptact.data.paths import candidate_folders, data_root
from adaptact.data.preprocess import normalize, resize as resize_images
from adaptact.data.record import RawData, TensorData
from adaptact.data.splits import count, holdout, seeded, subset, take

__all__ = ["load"]

VAL_FROM = ("front", "back", "random")


def _read(info, data_dir, cache_dir, options: dict[str, Any]) -> RawData:
    known = info.options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "none"
        raise ValueError(f"unknown option(s) {unknown} for data set {info.name!r}; its options are: {valid}")
    kwargs = dict(options)
    if "cache_dir" in inspect.signature(info.read).parameters:
        kwargs["cache_dir"] = cache_dir
    if not info.needs_files:
        return info.read(**kwargs)
    try:
        return info.read(candidate_folders(data_root(data_dir), info.folders), **kwargs)
    except DataError as e:
        then = "" if WHERE_HINT in str(e) else f"\nThen {WHERE_HINT}."
        raise DataError(f"{info.name}: {e}\nTo obtain it: {info.obtain}.{then}") from e


def _pick(idx: torch.Tensor, size: int | float | None, stream: str, seed: int, what: str) -> torch.Tensor:
    if size is None:
        return idx
    return idx[subset(len(idx), count(size, len(idx), what), seeded(seed, stream))]


def _class_counts(y: torch.Tensor, num_classes: int) -> list[int]:
    return torch.bincount(y.cpu(), minlength=num_classes).tolist()


def load(
    name: str,
    data_dir: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    normalization: str | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    resize: int | tuple[int, int] | None = None,
    val_size: int | float = 0,
    val_from: str = "front",
    train_subset: int | float | None = None,
    test_subset: int | float | None = None,
    seed: int = 0,
    cache_dir: str | Path | None | bool = None,
    **options: Any,
) -> TensorData:
    """Load data set ``name`` as tensors on ``device``, split into train / validation / test.

    Steps, in order: read the files (or generate / fetch from scikit-learn); carve the
    validation split from the released training split; draw the training and test subsets;
    move to ``device``; convert images to float32, resize, and normalise with statistics of
    the final training split. Nothing is downloaded.

    Args:
        name: see :func:`list_datasets` (``mnist``, ``fashion-mnist``/``fmnist``, ``cifar10``,
            ``cifar100``, ``svhn``, ``fer2013``, ``rt-polarity``/``mr``, ``digits``, ``teacher``).
        data_dir: the folder holding the data sets (each in its own sub-folder such as
            ``mnist/``, or the data set's folder itself); default ``$ADAPTACT_DATA``.
        device: where the tensors go.
        normalization: ``"per-image"``, ``"mean-std"``, ``"minus-one-one"``, ``"unit"`` or ``"none"``
            (see :mod:`adaptact.data.preprocess`); default per data set, after the papers:
            MNIST mean-std 0.1307/0.3081 (PAU, Davis; Farhadi uses ``"unit"``), Fashion-MNIST,
            SVHN and FER-2013 ``"minus-one-one"`` (AdAct; PAU uses mean-std 0.1307/0.3081 on
            Fashion-MNIST too), CIFAR-10/100 ``"per-image"`` (ABU; AdAct ``"minus-one-one"``, PAU
            ``"mean-std"`` measured), digits ``"mean-std"`` measured, teacher ``"none"``.
            Asking for ``"mean-std"`` explicitly without ``mean``/``std`` measures the statistics
            (for MNIST that gives 0.1307 / 0.3081 again). Text data is not normalised.
        mean, std: explicit statistics for ``"mean-std"`` (one value or one per channel, pixels in [0, 1]).
        resize: images only: new side (int) or ``(height, width)``; bilinear, antialiased when shrinking
            (PAU: 32 for MNIST / Fashion-MNIST).
        val_size: validation examples taken from the training split: an int count or a float fraction.
        val_from: ``"front"`` (the first ``val_size``, as ABU's code), ``"back"`` (the last, as the Theano
            tutorial Farhadi et al. follow) or ``"random"`` (seeded).
        train_subset, test_subset: keep a seeded random subset (int count or float fraction) of the
            training split (after the validation split is carved) and of the test split.
        seed: seeds the random validation split and the subsets (each from its own stream).
            Data set construction (folds, FER's 80/20, the teacher network) has its own
            ``split_seed`` / ``teacher_seed`` options, fixed by default, so runs with different
            seeds see the same data.
        cache_dir: folder caching decoded images (default ``$ADAPTACT_CACHE/data``, else
            ``~/.cache/adaptact/data``; see :func:`adaptact.data.paths.cache_root`); ``False`` disables it.
        **options: data-set-specific options, e.g. ``label_mode="coarse"`` (cifar100), ``extra=True``
            (svhn), ``split="train-80-20"`` (fer2013), ``folds``/``fold``/``max_len``/``pad``/``min_freq``
            (rt-polarity), ``hidden_layers``/``activation``/``samples``/... (teacher). Unknown ones raise.

    Returns:
        :class:`TensorData`; ``meta`` records the files read, options, sizes, class counts,
        normalisation (with ``black``, what a black pixel became) and the cache status.

    Raises:
        ValueError: unknown name or option, bad argument.
        DataError: files missing or damaged; the message names them and says how to get the data set.
    """
    start = time.perf_counter()
    info = dataset_info(name)
    if val_from not in VAL_FROM:
        raise ValueError(f"val_from must be one of {VAL_FROM}, got {val_from!r}")
    raw = _read(info, data_dir, cache_dir, options)
    if raw.kind == "stream":  # too large for memory (ImageNet): decoded batch by batch from disk
        from adaptact.data.streaming import streamed_data

        return streamed_data(info.name, raw, device=device, normalization=normalization, mean=mean, std=std,
                             resize=resize, val_size=val_size, val_from=val_from, train_subset=train_subset,
                             test_subset=test_subset, seed=seed, hint=f"\nTo obtain {info.name}: {info.obtain}.")
    n_train = len(raw.y_train)
    k_val = count(val_size, n_train, "val_size")
    train_idx, val_idx = holdout(n_train, k_val, how=val_from, generator=seeded(seed, "val"))
    train_idx = _pick(train_idx, train_subset, "train_subset", seed, "train_subset")
    test_idx = _pick(torch.arange(len(raw.y_test)), test_subset, "test_subset", seed, "test_subset")
    parts = [(take(raw.x_train, i), raw.y_train[i]) for i in (train_idx, val_idx)]
    parts.append((take(raw.x_test, test_idx), raw.y_test[test_idx]))
    device = torch.device(device)
    ys = [y.to(device) for _, y in parts]
    vocab = None
    extra: dict[str, Any] = {}
    if raw.kind == "text":
        if normalization not in (None, "none") or mean is not None or std is not None or resize is not None:
            raise ValueError(f"{info.name} is text: normalization, mean, std and resize do not apply")
        train, others, extra, vocab = raw.encode(parts[0][0], [x for x, _ in parts[1:]])
        xs = [t.to(device) for t in [train] + others]
        norm_info: dict[str, Any] = {"mode": "none"}
    else:
        if resize is not None and raw.kind != "image":
            raise ValueError(f"resize only applies to images; {info.name} is {raw.kind} data")
        xs = [x.to(device).to(torch.float32, copy=True) for x, _ in parts]  # fresh: normalised in place
        if resize is not None:
            xs = [resize_images(x, resize) for x in xs]
        mode = normalization or info.normalization
        if normalization is None and mean is None and std is None and info.mean is not None:
            mean, std = info.mean, info.std
        train, others, norm_info = normalize(xs[0], xs[1:], mode, scale=raw.scale, mean=mean, std=std)
        xs = [train] + others
    num_classes = len(raw.classes)
    meta: dict[str, Any] = {"cache": None, **raw.meta, **extra}
    meta.update({
        "dataset": info.name,
        "kind": raw.kind,
        "files": list(raw.files),
        "options": {**info.options(), **options},
        "normalization": norm_info,
        "resize": list(resize) if isinstance(resize, (tuple, list)) else resize,
        "val_size": k_val,
        "val_from": val_from,
        "train_subset": train_subset,
        "test_subset": test_subset,
        "seed": seed,
        "sizes": {s: len(y) for s, y in zip(("train", "val", "test"), ys)},
        "released_sizes": {"train": n_train, "test": len(raw.y_test)},
        "class_counts": {s: _class_counts(y, num_classes) for s, y in zip(("train", "val", "test"), ys)},
        "device": str(device),
        "load_seconds": round(time.perf_counter() - start, 3),
    })
    return TensorData(info.name, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], num_classes,
                      tuple(xs[0].shape[1:]), list(raw.classes), meta, vocab)
