"""The dispatcher: modes, the environment override, fallback in auto, errors when forced, a missing compiler."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.kernels import c_build, c_engine
from adaptact.kernels.dispatch import KernelUnavailable

needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: the C kernels are off")


def _pau_args(dtype=torch.float32):
    return torch.randn(2, 3, 4, dtype=dtype), torch.randn(6, dtype=dtype), torch.randn(4, dtype=dtype)


def test_use_sets_the_mode_and_restores_it_as_a_context_manager():
    assert K.current() == "auto"
    with K.use("reference"):
        assert K.current() == "reference"
        with K.use("fused"):
            assert K.current() == "fused"
        assert K.current() == "reference"
    assert K.current() == "auto"
    K.use("reference")
    try:
        assert K.current() == "reference"
    finally:
        K.use("auto")


def test_unknown_mode_is_an_error_listing_the_choices():
    with pytest.raises(ValueError, match="choose from"):
        K.use("cuda-magic")


def test_available_lists_the_reference_last():
    assert K.available()[-1] == "reference"


def test_environment_variable_sets_the_initial_mode():
    code = "from adaptact import kernels; print(kernels.current())"
    env = {**os.environ, "ADAPTACT_KERNELS": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reference"
    env["ADAPTACT_KERNELS"] = "bogus"
    code = "from adaptact import kernels; kernels.current()"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "ADAPTACT_KERNELS" in bad.stderr


def test_auto_falls_back_to_the_reference_for_float64():
    x, a, b = _pau_args(torch.float64)
    torch.testing.assert_close(K.pau(x, a, b), AF.pau(x, a, b), rtol=0, atol=0)


@needs_c
def test_forced_backend_that_cannot_serve_raises_with_the_reason():
    x, a, b = _pau_args(torch.float64)
    with K.use("c"), pytest.raises(KernelUnavailable, match="float64"):
        K.pau(x, a, b)
    with K.use("fused"), pytest.raises(KernelUnavailable, match="c: dtype"):
        K.pau(x, a, b)
    with K.use("triton"), pytest.raises(KernelUnavailable, match="triton"):
        K.pau(x, a, b)


def test_unsupported_options_fall_back_in_auto_and_raise_when_forced():
    x = torch.randn(2, 3, 4)
    alpha = torch.tensor(1.0)
    torch.testing.assert_close(K.scaled(x, alpha, "gelu"), AF.scaled(x, alpha, "gelu"))
    with K.use("fused"), pytest.raises(KernelUnavailable, match="gelu"):
        K.scaled(x, alpha, "gelu")


def test_wrong_channel_count_gives_the_reference_error_in_auto():
    with pytest.raises(ValueError, match="num_features mismatch"):
        aa.create("pau", num_features=4)(torch.randn(2, 3, 5))


@needs_c
def test_implementations_expose_a_supports_predicate():
    impls = K.implementations("pau")
    assert {"reference", "c", "triton"} <= set(impls)
    x, a, b = _pau_args()
    assert impls["c"].supports(x, a, b) and impls["reference"].supports(x, a, b)
    assert not impls["c"].supports(x.double(), a, b)


@needs_c
def test_a_missing_compiler_turns_the_c_kernels_off_without_failing(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    c_build.compiler.cache_clear()
    try:
        assert "c" not in K.available()
        x = torch.randn(2, 3, 4)
        unit = aa.create("pau")
        with K.use("reference"):
            want = unit(x)
        torch.testing.assert_close(unit(x), want)
        with K.use("c"), pytest.raises(KernelUnavailable, match="compiler"):
            K.pau(x, unit.numerator, unit.denominator)
    finally:
        monkeypatch.undo()
        c_build.compiler.cache_clear()
    assert "c" in K.available()


@needs_c
def test_kernels_are_built_once_into_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTACT_CACHE", str(tmp_path))
    x, a, b = torch.randn(2, 3, 4), torch.randn(10), torch.randn(1)  # a (9, 1) PAU: no other test builds it
    c_engine._library.cache_clear()
    with K.use("c"):
        first = K.pau(x, a, b, "B")
    assert len(list((tmp_path / "kernels").glob("adaptact_*.so"))) == 1
    c_engine._library.cache_clear()
    c_build.load_library.cache_clear()

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the kernel was built again instead of loaded from the cache")

    monkeypatch.setattr(c_build.Compiler, "build", no_rebuild)
    with K.use("c"):
        torch.testing.assert_close(K.pau(x, a, b, "B"), first, rtol=0, atol=0)
    assert len(list((tmp_path / "kernels").glob("adaptact_*.so"))) == 1


@pytest.mark.compile
def test_torch_compile_traces_the_reference():
    unit = aa.create("pau")
    x = torch.randn(2, 3, 4)
    compiled = torch.compile(unit, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), unit(x), rtol=1e-5, atol=1e-5)


def test_record_lists_the_backend_of_each_dispatched_call():
    unit = aa.create("pau")
    with K.use("reference"), K.record() as used:
        unit(torch.randn(3, 4))
        torch.nn.PReLU()(torch.randn(3, 4))  # not dispatched
    assert used == ["reference"]


@needs_c
def test_a_kernel_that_fails_to_build_falls_back_in_auto(monkeypatch):
    def broken(source):
        raise RuntimeError("cc: error: simulated")

    monkeypatch.setattr(c_engine, "load_library", broken)
    c_engine._library.cache_clear()
    try:
        x, a, b = torch.randn(2, 3, 4), torch.randn(8), torch.randn(2)  # a (7, 2) PAU: built by no other test
        torch.testing.assert_close(K.pau(x, a, b), AF.pau(x, a, b))
        with K.use("c"), pytest.raises(KernelUnavailable, match="simulated"):
            K.pau(x, a, b)
    finally:
        c_engine._library.cache_clear()
