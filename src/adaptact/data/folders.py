"""Image-folder data sets ``{train,test}/<class>/<image>``, extracted or inside a tar archive.

The layout of Kaggle-style releases (and of the local CIFAR-10 and FER-2013 copies):
``<prefix>/train/<class>/*.jpg|jpeg|png`` and the same under ``test/``. An archive
(``.tar``, ``.tar.gz``, ``.tgz``, ...) is streamed once with :mod:`tarfile` and never
extracted to disk; images are decoded with Pillow and converted to ``mode`` (``"RGB"``
or ``"L"``). Decoding tens of thousands of JPEGs takes seconds, so the decoded uint8
tensors are cached (see :mod:`adaptact.data.cache`), keyed by the archive (or by every
image file of an extracted folder).

Order: within a class, files in sorted name order; classes are then interleaved
round-robin (see :func:`adaptact.data.splits.interleave_classes`) so that a front slice
of the training split holds every class.
"""
from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from adaptact.data.cache import cached
from adaptact.data.errors import DataError
from adaptact.data.splits import interleave_classes

__all__ = ["ARCHIVE_SUFFIXES", "IMAGE_SUFFIXES", "decode_images", "is_archive", "read_image_folders"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
SPLITS = ("train", "test")
_MEMBER = re.compile(r"(?:^|.*/)(train|test)/([^/]+)/([^/]+)$")


def is_archive(path: Path) -> bool:
    """Whether ``path``'s name ends like a tar archive."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _wanted(relpath: str) -> tuple[str, str, str] | None:
    m = _MEMBER.match(relpath)
    if m is None or not m.group(3).lower().endswith(IMAGE_SUFFIXES) or m.group(3).startswith("."):
        return None
    return m.group(1), m.group(2), m.group(3)


def _archive_items(archive: Path) -> Iterable[tuple[tuple[str, str, str], str, bytes]]:
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                key = _wanted(member.name) if member.isfile() else None
                if key is not None:
                    yield key, f"{archive}:{member.name}", tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: cannot read the archive ({e})") from e


def _folder_files(root: Path) -> list[tuple[tuple[str, str, str], Path]]:
    found = []
    for split in SPLITS:
        for path in sorted((root / split).glob("*/*")):
            key = _wanted(path.relative_to(root).as_posix())
            if key is not None and path.is_file():
                found.append((key, path))
    return found


def decode_images(blobs: Sequence[bytes], names: Sequence[str], mode: str) -> np.ndarray:
    """Decode encoded images (JPEG, PNG, ...) to one uint8 array ``(N, H, W, C)`` in Pillow ``mode``.

    Raises:
        DataError: an image cannot be decoded or differs in size from the first; names it.
    """
    from PIL import Image, UnidentifiedImageError

    channels = len(Image.new(mode, (1, 1)).getbands())
    out = None
    for i, (blob, name) in enumerate(zip(blobs, names)):
        try:
            with Image.open(io.BytesIO(blob)) as im:
                arr = np.asarray(im.convert(mode), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{name}: cannot decode the image ({e})") from e
        arr = arr.reshape(arr.shape[0], arr.shape[1], channels)
        if out is None:
            out = np.empty((len(blobs),) + arr.shape, dtype=np.uint8)
        elif arr.shape != out.shape[1:]:
            raise DataError(f"{name}: image size {arr.shape[:2]} differs from the others' {out.shape[1:3]}")
        out[i] = arr
    return out if out is not None else np.empty((0, 0, 0, channels), dtype=np.uint8)


def _decode_all(items: list[tuple[tuple[str, str, str], str, bytes | Path]], mode: str,
                classes: Sequence[str] | None, where: Path) -> dict:
    items.sort(key=lambda item: item[0])
    for split in SPLITS:
        if not any(item[0][0] == split for item in items):
            raise DataError(f"{where}: no images found under {split}/<class>/")
    names = list(classes) if classes is not None else sorted({key[1] for key, _, _ in items if key[0] == "train"})
    index = {name: i for i, name in enumerate(names)}
    result: dict = {"classes": names}
    for split in SPLITS:
        part = [item for item in items if item[0][0] == split]
        unknown = sorted({key[1] for key, _, _ in part} - set(index))
        if unknown:
            raise DataError(f"{where}: class folder(s) {unknown} under {split}/ are not among {names}")
        labels = torch.tensor([index[key[1]] for key, _, _ in part], dtype=torch.int64)
        order = interleave_classes(labels).tolist()
        part = [part[i] for i in order]
        blobs = [b if isinstance(b, bytes) else b.read_bytes() for _, _, b in part]
        images = decode_images(blobs, [name for _, name, _ in part], mode)
        # file names joined into one string: a list of 60k strings makes torch.load slow
        result[split] = {
            "images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "labels": labels[order],
            "names": "\n".join(key[2] for key, _, _ in part),
        }
    return result


def read_image_folders(
    source: str | Path,
    *,
    mode: str = "RGB",
    classes: Sequence[str] | None = None,
    cache_dir: str | Path | None | bool = None,
) -> dict:
    """Read ``train/`` and ``test/`` image folders from a directory or a tar archive.

    Args:
        source: a directory containing ``train/`` and ``test/`` (possibly below one
            prefix folder inside an archive), or a tar archive of that layout.
        mode: Pillow mode the images are converted to: ``"RGB"`` (3 channels) or ``"L"`` (1).
        classes: the class names in label order; default: the sorted folder names of ``train/``.
            Every folder must be one of them.
        cache_dir: where decoded tensors are cached; ``False`` to decode every time.

    Returns:
        dict with ``classes`` (list), ``cache`` (status), ``files`` (sources read, as strings) and, per
        split ``"train"`` / ``"test"``: ``{"images": uint8 (N, C, H, W), "labels": int64 (N,),
        "names": [file name, ...]}`` in interleaved class order (module docstring).

    Raises:
        DataError: no images, a split missing, an unknown class folder, or an undecodable image.
    """
    source = Path(source)
    if source.is_dir():
        files = _folder_files(source)
        sources = [path for _, path in files]

        def decode():
            return _decode_all([(key, str(path), path) for key, path in files], mode, classes, source)
    else:
        if not source.is_file():
            raise DataError(f"{source}: no such file or folder")
        sources = [source]

        def decode():
            return _decode_all(list(_archive_items(source)), mode, classes, source)
    if not sources:
        raise DataError(f"{source}: no images found under train/<class>/ or test/<class>/ "
                        f"(suffixes {', '.join(IMAGE_SUFFIXES)})")
    tag = f"folders-{mode}-{source.name}-" + hashlib.sha256(repr(classes).encode()).hexdigest()[:8]
    out, status = cached(tag, sources, decode, cache_dir)
    for split in SPLITS:
        out[split]["names"] = out[split]["names"].split("\n")
    return {**out, "cache": status, "files": [str(source)]}
