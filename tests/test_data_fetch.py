"""``fetch`` downloads, verifies and writes atomically; tested offline with ``file://`` URLs."""
from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from test_data_files import write_mnist

from adaptact import data
from adaptact.data.fetch import RELEASES, Release, ReleaseFile


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path):
    """A folder standing in for a web server, with the four MNIST files."""
    write_mnist(tmp_path / "server")
    return tmp_path / "server"


def _release(served, checksum=True, bad=False):
    files = []
    for path in sorted(served.glob("*.gz")):
        digest = ("md5", "0" * 32 if bad else _md5(path)) if checksum else None
        files.append(ReleaseFile(path.name, ("file:///nonexistent/" + path.name, path.as_uri()), digest, "test"))
    return {"mnist": Release("mnist", tuple(files))}


def test_fetch_downloads_verifies_and_loads(tmp_path, served):
    records = data.fetch("mnist", tmp_path / "data", releases=_release(served))
    assert [r["status"] for r in records] == ["downloaded"] * 4 and all(r["verified"] for r in records)
    assert all(r["url"].startswith("file:///") and "nonexistent" not in r["url"] for r in records)  # fell back
    for r in records:
        assert r["sha256"] == hashlib.sha256(Path(r["file"]).read_bytes()).hexdigest()
    assert not list((tmp_path / "data" / "mnist").glob("*.part"))
    d = data.load("mnist", tmp_path / "data", cache_dir=False)
    assert len(d.y_train) == 12
    again = data.fetch("mnist", tmp_path / "data", releases=_release(served))
    assert [r["status"] for r in again] == ["present"] * 4


def test_fetch_rejects_a_checksum_mismatch_and_leaves_nothing(tmp_path, served):
    with pytest.raises(data.DataError, match="md5 .* does not match the published 0000"):
        data.fetch("mnist", tmp_path, releases=_release(served, bad=True))
    assert list((tmp_path / "mnist").iterdir()) == []


def test_fetch_without_checksum_says_unverified(tmp_path, served):
    records = data.fetch("mnist", tmp_path, releases=_release(served, checksum=False))
    assert not any(r["verified"] for r in records) and all(r["algorithm"] is None for r in records)


def test_fetch_reports_every_failed_url(tmp_path):
    release = {"mnist": Release("mnist", (ReleaseFile("x.gz", ("file:///no/such/x.gz",), None),))}
    with pytest.raises(data.DataError, match=r"could not download x.gz:\n  file:///no/such/x.gz"):
        data.fetch("mnist", tmp_path, releases=release)


def test_fetch_unpacks_members(tmp_path):
    src = tmp_path / "src" / "rt-polaritydata"
    src.mkdir(parents=True)
    (src / "rt-polarity.pos").write_text("good\nfine\n")
    (src / "rt-polarity.neg").write_text("bad\npoor\n")
    archive = tmp_path / "rt.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="rt-polaritydata")
    real = RELEASES["rt-polarity"]
    release = {"rt-polarity": Release(real.folder, (ReleaseFile(real.files[0].name, (archive.as_uri(),), None),),
                                      real.unpack)}
    records = data.fetch("mr", tmp_path / "data", releases=release)
    assert [r["status"] for r in records] == ["downloaded", "unpacked", "unpacked"]
    d = data.load("rt-polarity", tmp_path / "data", folds=2)
    assert len(d.y_train) + len(d.y_test) == 4


def test_fetch_refuses_what_it_cannot_get(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match="Kaggle"):
        data.fetch("fer2013", tmp_path)
    with pytest.raises(data.DataError, match="needs no files"):
        data.fetch("digits", tmp_path)
    monkeypatch.delenv("ADAPTACT_DATA", raising=False)
    with pytest.raises(data.DataError, match="--data-dir"):
        data.fetch("mnist")


def test_release_table_is_complete_and_checksums_well_formed():
    assert set(RELEASES) == {"mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "rt-polarity"}
    for release in RELEASES.values():
        for f in release.files:
            assert all(u.startswith(("http://", "https://")) for u in f.urls)
            if f.checksum is not None:
                algorithm, digest = f.checksum
                assert algorithm == "md5" and len(digest) == 32 and int(digest, 16) >= 0
    assert RELEASES["cifar10"].files[0].checksum == ("md5", "c58f30108f718f92721af3b95e74349a")
    assert RELEASES["cifar100"].files[0].checksum == ("md5", "eb9058c3a382ffc7106e4002c42a8d85")
    assert RELEASES["rt-polarity"].files[0].checksum is None  # no published checksum known
