"""Optional download of official release files: runs only when :func:`fetch` is called, never at import or load.

Each file is streamed to a temporary file next to its target, checked against the
checksum in :data:`RELEASES`, and moved into place with ``os.replace``, so a failed or
interrupted download never leaves a partial file under the final name.

Checksums (all MD5, because that is what is published for these releases):

- CIFAR-10 / CIFAR-100 tarballs: MD5 printed on the official CIFAR page.
- Fashion-MNIST: MD5 printed in the official README (github.com/zalandoresearch/fashion-mnist).
- MNIST and SVHN: the official pages publish no checksums; these are the MD5s that
  torchvision's dataset classes use (widely published), not the sites' own.
- rt-polarity: no published checksum is known: the file is downloaded and reported as
  ``verified: False`` with its SHA-256, so the user can record it.

What could not be verified here (no internet on the development machine): no download
was tried against the real servers. Of the constants, only the two Fashion-MNIST label
files' MD5s could be checked against local copies (they match); the local MNIST and
Fashion-MNIST image files are re-compressed (same content, different .gz bytes), and the
local CIFAR-10 and FER-2013 copies are not the official release files.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptact.data.catalog import dataset_info
from adaptact.data.errors import DataError
from adaptact.data.paths import ENV_DATA

__all__ = ["RELEASES", "Release", "ReleaseFile", "fetch"]

BLOCK = 1 << 20
TORCHVISION = "torchvision's dataset class (the official page publishes none)"


@dataclass(frozen=True)
class ReleaseFile:
    """One downloadable file: its name in the data set's folder, URLs tried in order, and checksum.

    ``checksum`` is ``(algorithm, hex digest)`` with algorithm ``"md5"`` or ``"sha256"``, or ``None``
    when no trustworthy published value is known. ``optional`` files are fetched only on request.
    """

    name: str
    urls: tuple[str, ...]
    checksum: tuple[str, str] | None
    source: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Release:
    """A data set's release: the folder under the data directory, its files, and members to unpack.

    ``unpack`` pairs ``(member path inside the first file, name to write)``; used where the loader
    reads extracted files (rt-polarity).
    """

    folder: str
    files: tuple[ReleaseFile, ...]
    unpack: tuple[tuple[str, str], ...] = ()


def _files(bases: tuple[str, ...], names_md5: dict[str, str], source: str) -> tuple[ReleaseFile, ...]:
    return tuple(ReleaseFile(n, tuple(b + n for b in bases), ("md5", h), source) for n, h in names_md5.items())


RELEASES: dict[str, Release] = {
    "mnist": Release("mnist", _files(
        ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}, TORCHVISION)),
    "fashion-mnist": Release("fashion-mnist", _files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}, "the official Fashion-MNIST README")),
    "cifar10": Release("cifar10", _files(
        ("https://www.cs.toronto.edu/~kriz/",), {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        "the official CIFAR page")),
    "cifar100": Release("cifar100", _files(
        ("https://www.cs.toronto.edu/~kriz/",), {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
        "the official CIFAR page")),
    "svhn": Release("svhn", _files(
        ("http://ufldl.stanford.edu/housenumbers/",),
        {"train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
         "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3"}, TORCHVISION) + (
        ReleaseFile("extra_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/extra_32x32.mat",),
                    ("md5", "a93ce644f1a588dc4d68dda5feec44a7"), TORCHVISION, optional=True),)),
    "rt-polarity": Release("rt-polarity", (
        ReleaseFile("rt-polaritydata.tar.gz",
                    ("https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",), None),),
        unpack=(("rt-polaritydata/rt-polarity.pos", "rt-polarity.pos"),
                ("rt-polaritydata/rt-polarity.neg", "rt-polarity.neg"))),
}


def _digests(path: Path) -> dict[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _check(path: Path, spec: ReleaseFile, digests: dict[str, str]) -> bool:
    """True if verified, False if there is no checksum; raises on a mismatch."""
    if spec.checksum is None:
        return False
    algorithm, expected = spec.checksum
    if digests[algorithm] != expected.lower():
        raise DataError(f"{path}: {algorithm} {digests[algorithm]} does not match the published {expected} "
                        f"(from {spec.source or 'the release table'}); the file is damaged or not the release file")
    return True


def _download(spec: ReleaseFile, target: Path, timeout: float) -> str:
    errors = []
    for url in spec.urls:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(BLOCK), b""):
                    out.write(block)
            _check(Path(tmp), spec, _digests(Path(tmp)))
            os.replace(tmp, target)
            return url
        except (urllib.error.URLError, OSError, ValueError) as e:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(e, DataError):
                raise DataError(f"{url}: {e}") from e
            errors.append(f"  {url}: {e}")
    raise DataError(f"could not download {spec.name}:\n" + "\n".join(errors))


def _unpack(archive: Path, member: str, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            source = tar.extractfile(member)
            if source is None:
                raise KeyError(member)
            data = source.read()
    except (tarfile.TarError, KeyError, OSError) as e:
        raise DataError(f"{archive}: cannot unpack {member} ({e})") from e
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, target)


def _check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it, before any download."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".adaptact-write-test-")
    except OSError as e:
        raise DataError(f"{folder}: cannot write the downloaded files there ({e.strerror or e}); "
                        f"choose another data directory") from e
    os.close(fd)
    os.unlink(probe)


def fetch(
    name: str,
    data_dir: str | Path | None = None,
    *,
    optional: bool = False,
    overwrite: bool = False,
    timeout: float = 60.0,
    releases: dict[str, Release] | None = None,
) -> list[dict[str, Any]]:
    """Download data set ``name``'s official release files into ``data_dir/<folder>/`` and verify them.

    Args:
        name: a data set name or alias with a downloadable release (mnist, fashion-mnist, cifar10,
            cifar100, svhn, rt-polarity). FER-2013 needs a Kaggle account and cannot be fetched.
        data_dir: the data directory (created if needed); default ``$ADAPTACT_DATA``.
        optional: also fetch optional files (SVHN's 1.3 GB ``extra_32x32.mat``).
        overwrite: download again even if a file is present.
        timeout: seconds per network operation.
        releases: the release table to use instead of :data:`RELEASES` (tests use ``file://`` URLs).

    Returns:
        one record per file: ``file``, ``status`` (``downloaded``, ``present`` or ``unpacked``),
        ``url``, ``verified`` (False where no published checksum is known), ``algorithm``, ``sha256``.

    Raises:
        DataError: no data directory, a data directory where the files cannot be written (checked
            before any download), no release for ``name``, every URL failed, or a checksum
            mismatch (the bad download is deleted; a bad existing file is reported, not replaced).
    """
    info = dataset_info(name)
    table = RELEASES if releases is None else releases
    if info.name not in table:
        what = "needs no files" if not info.needs_files else f"has no downloadable release: get {info.obtain}"
        raise DataError(f"{info.name} {what}")
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_DATA) or None
    if chosen is None:
        raise DataError("fetch needs a data directory: pass data_dir= (CLI: --data-dir) or set ADAPTACT_DATA")
    release = table[info.name]
    folder = Path(chosen).expanduser() / release.folder
    wanted = [spec for spec in release.files if optional or not spec.optional]
    if release.unpack or any(overwrite or not (folder / spec.name).is_file() for spec in wanted):
        _check_writable(folder)
    records = []
    for spec in release.files:
        if spec not in wanted:
            continue
        target = folder / spec.name
        url, status = None, "present"
        if overwrite or not target.is_file():
            url, status = _download(spec, target, timeout), "downloaded"
        digests = _digests(target)
        verified = _check(target, spec, digests)
        records.append({"file": str(target), "status": status, "url": url, "verified": verified,
                        "algorithm": spec.checksum[0] if spec.checksum else None, "sha256": digests["sha256"]})
    for member, out_name in release.unpack:
        archive = folder / release.files[0].name
        _unpack(archive, member, folder / out_name)
        records.append({"file": str(folder / out_name), "status": "unpacked", "url": None,
                        "verified": records[0]["verified"], "algorithm": None,
                        "sha256": _digests(folder / out_name)["sha256"]})
    return records
