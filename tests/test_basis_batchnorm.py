"""The four-pass C blend of batch-normalised basis outputs (ABU in SMCN_BN) against the reference formulas."""
from __future__ import annotations

import pytest
import torch

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels
from adaptact.kernels import basis_batchnorm as BBN
from adaptact.kernels.c_build import compiler
from adaptact.kernels.formulas import FUSED_BASES

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler")

BASIS = AF.ABU_BASIS
NORMALIZATIONS = AF.NORMALIZATIONS
#: (shape, channels-last, per-channel parameters): rows and column layouts, odd sizes, one channel, 1-D
CASES = [(shape, cl, pc) for shape, cl in (((16, 8, 12, 12), False), ((16, 8, 12, 12), True), ((9, 5, 3, 7), False),
                                           ((9, 5, 3, 7), True), ((64, 24), False), ((7, 1, 11), False))
         for pc in (False, True)] + [((301,), False, False)]


def _inputs(shape, per_channel: bool, seed: int = 0, channels_last: bool = False):
    g = torch.Generator().manual_seed(seed)
    c = shape[1] if len(shape) > 1 else 1
    x = torch.randn(shape, generator=g) * 1.7 + 0.4
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn((c, 5) if per_channel else (5,), generator=g)
    beta = torch.rand((c, 1) if per_channel else (1,), generator=g) + 0.5
    return x, w, beta


def _error(a: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest difference relative to the largest exact value."""
    return ((a.double() - exact).abs().max() / exact.abs().max().clamp(min=1e-30)).item()


def _grads(x, w, beta, normalization, dy, double: bool):
    x, w, beta = (t.detach().double() if double else t.detach().clone() for t in (x, w, beta))
    for t in (x, w, beta):
        t.requires_grad_()
    y = AF.blend(x, w, BASIS, beta, normalization, True, True) if double else \
        kernels.blend(x, w, BASIS, beta, normalization, True, True)
    return (y, *torch.autograd.grad(y, (x, w, beta), dy.to(y.dtype)))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("shape,channels_last,per_channel", CASES)
def test_outputs_and_every_gradient_equal_the_float64_reference(shape, channels_last, per_channel, normalization):
    """Output, input, weight and Swish-beta gradients within 3e-5 of the largest value of each, the float64
    reference's (the float32 reference's own error is of the same order: asserted alongside)."""
    x, w, beta = _inputs(shape, per_channel, channels_last=channels_last)
    dy = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    with kernels.record() as used:
        fused = _grads(x, w, beta, normalization, dy, double=False)
    assert used == ["c"]
    exact = _grads(x, w, beta, normalization, dy, double=True)
    with kernels.use("reference"):
        reference32 = _grads(x, w, beta, normalization, dy, double=False)
    for name, a, r32, e in zip(("y", "dx", "dw", "dbeta"), fused, reference32, exact):
        assert a.shape == e.shape and a.dtype == torch.float32, name
        assert _error(a, e) < max(3e-5, 4 * _error(r32, e)), (name, _error(a, e), _error(r32, e))


def test_a_channels_last_input_gives_channels_last_output_and_gradient():
    x, w, beta = _inputs((4, 6, 5, 5), True, channels_last=True)
    x.requires_grad_()
    y = kernels.blend(x, w, BASIS, beta, "none", True, True)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    y.sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_the_unit_takes_the_c_path_in_training_and_evaluation():
    """ABU in SMCN_BN normalises with the current batch's statistics in both modes."""
    unit = aa.create("abu", num_features=6, basis_batchnorm=True)
    x = torch.randn(8, 6, 4, 4)
    for mode in (unit.train, unit.eval):
        mode()
        with kernels.record() as used:
            y = unit(x)
        assert used == ["c"]
        with kernels.use("reference"):
            torch.testing.assert_close(y, unit(x), rtol=1e-5, atol=1e-5)


def test_a_saturated_channel_takes_the_reference_bit_for_bit():
    """tanh of inputs near 40 is 1 to float32: E[f^2] - mu^2 would cancel; the call is the reference's."""
    x, w, beta = _inputs((8, 3, 4, 4), True)
    x = x.clone()
    x[:, 1] = 40.0 + 1e-3 * x[:, 1]
    call = BBN.blend_batchnorm_prepare(x, w, BASIS, beta, "none", True, True)
    with kernels.use("reference"):
        reference = kernels.blend(x, w, BASIS, beta, "none", True, True)
    assert torch.equal(call(), reference)


def test_double_backward_follows_the_reference():
    """create_graph=True (gradient penalties): the second derivative is the reference's, not silently zero."""
    x, w, beta = _inputs((6, 3, 4, 4), True)
    dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))

    def second(use_reference: bool):
        xx, ww, bb = (t.clone().requires_grad_() for t in (x, w, beta))
        with kernels.use("reference" if use_reference else "auto"):
            y = kernels.blend(xx, ww, BASIS, bb, "softmax", True, True)
            (gx,) = torch.autograd.grad(y, xx, dy, create_graph=True)
            return torch.autograd.grad(gx.square().sum(), (xx, ww, bb))

    for a, b in zip(second(False), second(True)):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FUSED_BASES))
def test_the_squared_formulas_sum_to_the_mean_squares_of_every_basis(name):
    """The moments program's sums (a weight's gradient at dy = 1) against torch's, for every fused basis: its
    f_j^2 terms are right for each."""
    k = AF.basis_function(name).num_params
    x = torch.randn(6, 4, 5, 5) * 2
    params = torch.rand(4, k) + 0.3 if k else torch.zeros(4, 0)
    stats = BBN._Statistics(x.contiguous(), (name,), params.double())
    values = AF.blend(x.double(), torch.ones(4, 1, dtype=torch.float64), (name,),
                      params.double() if k else None)  # f(x) itself
    dims = (0, 2, 3)
    torch.testing.assert_close(stats.mean[:, 0], values.mean(dims), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats.square[:, 0], values.square().mean(dims), rtol=1e-5, atol=1e-6)


def test_what_it_does_not_serve_is_said_and_takes_the_reference():
    x, w, beta = _inputs((8, 3, 4, 4), True)
    reasons = [BBN.blend_batchnorm_prepare(x.double(), w, BASIS, beta, "none", True, True),
               BBN.blend_batchnorm_prepare(x, torch.zeros(3, 7), AF.ADACT_BASIS, torch.ones(3, 1), "softmax",
                                           True, True),
               BBN.blend_batchnorm_prepare(x[:1, :, :1, :1], w, BASIS, beta, "none", True, True),
               BBN.blend_batchnorm_prepare(x, torch.zeros(4, 5), BASIS, beta, "none", True, True),
               BBN.blend_batchnorm_prepare(x.flatten(), torch.zeros(1, 5), BASIS, torch.ones(1, 1), "none", True,
                                           True)]
    assert [type(r) for r in reasons] == [str] * 5
    assert "float32" in reasons[0] and "stochastic" in reasons[1] and "two values" in reasons[2]
    assert "channels" in reasons[3] and "1-D" in reasons[4]
    with pytest.raises(ValueError, match="per-channel parameter needs an input of shape"):
        kernels.blend(x.flatten(), torch.zeros(1, 5), BASIS, torch.ones(1, 1), "none", True, True)
    with kernels.record() as used:
        kernels.blend(x.double(), w.double(), BASIS, beta.double(), "none", True, True)
    assert used == ["reference"]
