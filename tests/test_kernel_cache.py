"""The kernel cache holds code that runs in this process: it is private, checked before loading, and never
takes compiler flags from a file.

Faults injected here: a truncated library, a library without / with a garbled / with a wrong checksum
file, a cache folder writable by others, by its group, owned by someone else, the predictable temporary
fallback pre-created by someone else, a planted library with a matching checksum in a foreign folder,
planted compiler markers (old text format with ``-wrapper``, JSON with flags, an out-of-range index, a
marker about another compiler, empty, binary garbage), an interrupted atomic write and a planted Triton module.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from adaptact import cachedir
from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.kernels import c_build, c_engine
from adaptact.kernels.c_source import c_source
from adaptact.kernels.formulas import pau_formula
from adaptact.kernels.program import Program, Term

needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: the C kernels are off")


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A fresh ``$ADAPTACT_CACHE`` (its ``kernels`` folder is made private by the library); caches cleared."""
    monkeypatch.setenv("ADAPTACT_CACHE", str(tmp_path / "cache"))
    c_build._private_kernel_folder.cache_clear()
    c_engine._library.cache_clear()
    yield tmp_path / "cache" / "kernels"
    c_build._private_kernel_folder.cache_clear()
    c_engine._library.cache_clear()


def _pau_source(m=3, n=3) -> str:
    """The C source of a PAU program (a (3, 3) PAU of form B: a kernel the rest of the suite never builds)."""
    formula = pau_formula(m, n, "B")
    return c_source(Program((Term(formula, None, tuple(range(m + 1 + n))),), m + 1 + n))


def _build_uncached(source: str):
    """Build (or load) without the per-process memo of :func:`c_build.load_library`."""
    return c_build.load_library.__wrapped__(source)


def _replace_with(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file (never truncate a library this process may have mapped)."""
    tmp = path.with_name(path.name + ".planted")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- checked libraries


@needs_c
def test_a_built_library_has_a_sidecar_with_its_size_and_sha256(cache):
    source = _pau_source()
    _build_uncached(source)
    target = c_build.library_path(c_build.compiler(), source)
    assert target.parent == cache
    record = json.loads(target.with_name(target.name + ".json").read_text())
    assert record["size"] == target.stat().st_size
    assert c_build.library_problem(target) is None


@needs_c
def test_a_damaged_library_is_named_and_rebuilt_not_loaded(cache, caplog):
    source = _pau_source()
    _build_uncached(source)
    target = c_build.library_path(c_build.compiler(), source)
    good = target.read_bytes()
    _replace_with(target, good[: len(good) // 2])
    assert "not as recorded at build time" in c_build.library_problem(target)
    with caplog.at_level(logging.WARNING, logger="adaptact.kernels"):
        _build_uncached(source)
    assert any(target.name in r.getMessage() and "not as recorded" in r.getMessage() for r in caplog.records)
    assert target.stat().st_size == len(good)
    assert c_build.library_problem(target) is None


@pytest.mark.parametrize("sidecar, problem", [
    (None, "it has no checksum file"),
    (b"", "its checksum file is unreadable"),
    (b"\xff\x00garbage", "its checksum file is unreadable"),
    (b"[]", "not as recorded at build time"),
    (b'{"size": 10, "sha256": "00"}', "not as recorded at build time"),
])
def test_a_library_without_a_matching_checksum_file_is_refused(tmp_path, sidecar, problem):
    library = tmp_path / "adaptact_x.so"
    library.write_bytes(b"0123456789")
    side = tmp_path / "adaptact_x.so.json"
    side.write_text(json.dumps(c_build._fingerprint(library)))
    assert c_build.library_problem(library) is None
    if sidecar is None:
        side.unlink()
    else:
        side.write_bytes(sidecar)
    assert problem in c_build.library_problem(library)


def test_a_library_changed_after_its_checksum_is_refused(tmp_path):
    library = tmp_path / "adaptact_x.so"
    library.write_bytes(b"0123456789")
    (tmp_path / "adaptact_x.so.json").write_text(json.dumps(c_build._fingerprint(library)))
    library.write_bytes(b"0123456780")  # same size, other bytes
    assert "not as recorded at build time" in c_build.library_problem(library)


_RUN_PAU = """
import torch
from adaptact import functional as AF, kernels as K
x = torch.linspace(-3, 3, 50).reshape(2, 25)
a, b = torch.arange(1.0, 5.0) / 10, torch.arange(1.0, 4.0) / 10
with K.use("c"):
    y = K.pau(x, a, b, "B")
torch.testing.assert_close(y, AF.pau(x, a, b, "B"))
print("same as the reference")
"""


@needs_c
@pytest.mark.slow
def test_a_truncated_cached_library_does_not_kill_a_new_process(cache):
    """A truncated library used to end every later process with a bus error (exit 135 / SIGBUS)."""
    source = _pau_source()
    _build_uncached(source)  # the kernel _RUN_PAU needs, built in this process
    target = c_build.library_path(c_build.compiler(), source)
    size = target.stat().st_size
    _replace_with(target, target.read_bytes()[: size // 2])
    env = dict(os.environ, ADAPTACT_CACHE=str(cache.parent), PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _RUN_PAU], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "same as the reference" in done.stdout
    assert target.stat().st_size == size and c_build.library_problem(target) is None


# --------------------------------------------------------------------------- private folders


def test_write_bytes_atomic_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "marker.json"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cachedir.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        cachedir.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker.json"]


def test_a_new_cache_folder_is_private(cache):
    folder = c_build.cache_dir()
    assert folder == cache
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    assert cachedir.folder_unsafe(folder) is None


@pytest.mark.parametrize("mode, who", [(0o777, "others"), (0o775, "its group"), (0o703, "others")])
def test_a_cache_folder_others_can_write_is_not_used(cache, caplog, mode, who):
    cache.mkdir(parents=True)
    cache.chmod(mode)
    assert cachedir.folder_unsafe(cache) == f"is writable by {who} (mode {mode:o})"
    with caplog.at_level(logging.WARNING, logger="adaptact.cache"):
        folder = c_build.cache_dir()
    assert folder != cache and not folder.is_relative_to(cache)
    assert cachedir.folder_unsafe(folder) is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"adaptact: not using the cache folder {cache}: it is writable by {who} (mode {mode:o}); "
                        "using a private temporary folder"]


def test_a_cache_folder_owned_by_someone_else_is_not_used(cache, monkeypatch, tmp_path, caplog):
    cache.mkdir(parents=True, mode=0o700)
    me = os.getuid()
    monkeypatch.setattr(cachedir, "_current_uid", lambda: me + 1)  # every existing folder now looks foreign
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with caplog.at_level(logging.WARNING, logger="adaptact.cache"):
        folder = c_build.cache_dir()
    assert folder.parent == tmp_path / "tmp" and folder.name.startswith(f"adaptact-kernels-{me}-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert f"is owned by user id {me}, not by you ({me + 1})" in caplog.records[0].getMessage()


def test_the_predictable_temporary_fallback_is_not_trusted(monkeypatch, tmp_path, caplog):
    """When the usual folder cannot be made, ``$TMPDIR/adaptact-kernels-<uid>`` is used only if private."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("ADAPTACT_CACHE", str(blocker))  # <file>/kernels cannot be created
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    planted = tmp / f"adaptact-kernels-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)  # as another user would leave it
    c_build._private_kernel_folder.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="adaptact.cache"):
            folder = c_build.cache_dir()
        assert folder != planted and folder.parent == tmp
        assert str(planted) in caplog.records[0].getMessage()
        planted.chmod(0o700)  # now it is private: used, silently
        c_build._private_kernel_folder.cache_clear()
        assert c_build.cache_dir() == planted
    finally:
        c_build._private_kernel_folder.cache_clear()


@needs_c
def test_a_library_planted_in_a_foreign_folder_never_runs(cache, caplog):
    """A planted library with a matching checksum file in an others-writable folder is never loaded."""
    source = _pau_source()
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    c = c_build.compiler()
    key_name = c_build.library_path(c, source).name  # computed while the folder is still unresolved
    c_build._private_kernel_folder.cache_clear()
    planted = cache / key_name
    planted.write_bytes(b"\x7fELF not a library")
    (cache / (key_name + ".json")).write_text(json.dumps(c_build._fingerprint(planted)))
    with caplog.at_level(logging.WARNING, logger="adaptact.cache"):
        lib = _build_uncached(source)
    assert hasattr(lib, "fwd_rows")
    assert c_build.library_path(c, source).parent != cache


# --------------------------------------------------------------------------- compiler markers


def _marker_case():
    path = c_build._candidates()[0]
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return path, version, c_build._marker(path, version)


@needs_c
@pytest.mark.parametrize("content", [
    b"-O2 -wrapper /tmp/evil,-c",  # the old text format: flags split from the file
    b'{"compiler": "%s", "version": "%s", "flag_set": 0, "flags": ["-wrapper", "/tmp/evil"]}',
    b'{"compiler": "%s", "version": "%s", "flag_set": 7}',
    b'{"compiler": "%s", "version": "%s", "flag_set": "-wrapper"}',
    b'{"compiler": "/tmp/evil-cc", "version": "%s", "flag_set": 0}',
])
def test_a_planted_marker_never_gives_compiler_flags(cache, content):
    path, version, marker = _marker_case()
    marker.parent.mkdir(parents=True, exist_ok=True)
    if content.count(b"%s") == 2:
        content = content % (path.encode(), version.encode())
    elif b"%s" in content:
        content = content % version.encode()
    marker.write_bytes(content)
    found = c_build._probe(path, version)
    assert found is not None and found.path == path
    assert found.flags in c_build.FLAG_SETS and "-wrapper" not in " ".join(found.flags)


@needs_c
@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe", b"{", b"null", b"[]"])
def test_an_empty_or_garbled_marker_means_probe_again(cache, content):
    """An empty marker used to switch the C kernels off for good ("no working C compiler")."""
    path, version, marker = _marker_case()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_bytes(content)
    found = c_build._probe(path, version)
    assert found is not None and found.flags in c_build.FLAG_SETS
    record = json.loads(marker.read_text())  # the probe wrote a fresh, valid marker
    assert record == {"compiler": path, "version": version, "flag_set": c_build.FLAG_SETS.index(found.flags)}
    assert c_build._remembered(marker, path, version) == found


@needs_c
def test_a_remembered_probe_is_used_without_compiling(cache, monkeypatch):
    path, version, marker = _marker_case()
    first = c_build._probe(path, version)

    def no_build(*args, **kwargs):
        raise AssertionError("the compiler was probed again although the marker is valid")

    monkeypatch.setattr(c_build.Compiler, "build", no_build)
    assert c_build._probe(path, version) == first


def test_a_failed_probe_is_not_remembered(cache, monkeypatch):
    def failing_build(self, source, target):
        raise RuntimeError("cc: error: simulated")

    monkeypatch.setattr(c_build.Compiler, "build", failing_build)
    assert c_build._probe("/usr/bin/cc-test", "cc-test 1.0") is None
    assert not list(c_build.cache_dir().glob("compiler_*"))


# --------------------------------------------------------------------------- Triton modules


def test_a_planted_triton_module_is_replaced_before_import(cache):
    pytest.importorskip("triton")
    from adaptact.kernels import triton_engine

    program = Program((Term(pau_formula(2, 2, "A"), None, tuple(range(5))),), 5)
    triton_engine._module.cache_clear()
    try:
        triton_engine._module(program, True)
        (path,) = cache.glob("adaptact_triton_*.py")
        path.write_text("PLANTED = True\n")
        triton_engine._module.cache_clear()
        module = triton_engine._module(program, True)
        assert not hasattr(module, "PLANTED") and hasattr(module, "fwd_rows")
    finally:
        triton_engine._module.cache_clear()
