"""The Triton kernels equal the reference: on CPU through TRITON_INTERPRET=1, on CUDA when a GPU is present.

Without a CUDA device this module sets ``TRITON_INTERPRET=1`` before triton is
imported. Skipped when triton is not installed (it is in the ``gpu`` and ``dev``
extras). The interpreter runs every program instance in numpy, so these cases
use small shapes; the CUDA cases (skipped without a GPU) check outputs and every
gradient on the device.
"""
from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    # conftest.py sets it before triton is first imported (its interpreter replaces triton.language's
    # functions at import); this keeps the module right when run on its own
    os.environ.setdefault("TRITON_INTERPRET", "1")

from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.lowering import lower_blend
from adaptact.kernels.triton_engine import TritonEngine, interpreting
from kernel_cases import CASE_IDS, CASES, check_equal, make_x

pytest.importorskip("triton")

#: PAU A/B, ABU, AdAct, scaled ReLU, AGSig-like affine, adaptive Gumbel and ReLU, CDF units, APL, SReLU, meta-neuron, VAF
SUBSET_IDS = [
    "pauA54", "pauB54", "pauB26", "blend[tanh-elu-relu-identity-swish_beta|softmax]",
    "blend[relu-elu-lrelu-prelu-rrelu-silu-mish|softmax]", "scaled[relu]", "affine[sigmoid|a_in-b_in-a_out-b_out]",
    "agumbel", "arelu[exponential]", "arelu[logistic]", "adaptive_cdf[gumbel]", "cdf_relu[laplace]", "apl2",
    "srelu", "metaneuron[tanh|3x3|act]", "vaf[sigmoid|5]",
]
SUBSET_CASES = [CASES[CASE_IDS.index(i)] for i in SUBSET_IDS]
SHAPES = [((2, 3, 5, 7), None), ((2, 3, 5, 7), 3), ((2, 3, 150), 3), ((3, 2500), None)]
SHAPE_IDS = ["2x3x5x7", "2x3x5x7-c", "2x3x150-c", "3x2500"]


@pytest.fixture
def interpret():
    if not interpreting():
        pytest.skip("the interpreter checks run where there is no CUDA device (TRITON_INTERPRET=1)")


@pytest.mark.parametrize("shape,channels", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("case", SUBSET_CASES, ids=SUBSET_IDS)
def test_triton_interpreted_equals_reference(interpret, case, shape, channels):
    check_equal(case, make_x(shape), channels, "triton")


@pytest.mark.parametrize("case", SUBSET_CASES, ids=SUBSET_IDS)
def test_triton_interpreted_equals_reference_at_extreme_inputs(interpret, case):
    check_equal(case, make_x((2, 3, 13), extreme=True), 3, "triton")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("case", SUBSET_CASES[:3], ids=SUBSET_IDS[:3])
def test_triton_interpreted_half_precision(interpret, case, dtype):
    check_equal(case, make_x((2, 3, 5, 7)), 3, "triton", dtype=dtype)


def test_triton_interpreted_non_contiguous(interpret):
    check_equal(CASES[0], make_x((2, 3, 6, 6)), 3, "triton", transform=lambda x: x.transpose(2, 3))


def test_rrelu_training_draws_the_same_slopes_in_c_and_triton(interpret):
    """The counter-based generator gives the same numbers in both languages."""
    x = -torch.rand(3, 2, 700) - 0.1
    lowered = lower_blend(x, torch.zeros(7), AF.ADACT_BASIS, torch.tensor([0.25]), "softmax", training=True)
    theta = lowered.theta.detach().contiguous()
    seed = 0x1234_5678_9ABC
    with K.use("triton"):
        y_triton = TritonEngine().forward(lowered.program, x, theta, seed)
    if "c" in K.available():
        y_c = CEngine().forward(lowered.program, x, theta, seed)
        torch.testing.assert_close(y_triton, y_c, rtol=1e-5, atol=1e-6)
    assert not torch.equal(y_triton, TritonEngine().forward(lowered.program, x, theta, seed + 1))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


CUDA_SHAPES = SHAPES + [((4, 3, 33, 17), 3), ((5, 1000), 1000), ((70001,), None)]
CUDA_SHAPE_IDS = SHAPE_IDS + ["4x3x33x17-c", "5x1000-c", "70001"]


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("shape,channels", CUDA_SHAPES, ids=CUDA_SHAPE_IDS)
@pytest.mark.parametrize("case", SUBSET_CASES, ids=SUBSET_IDS)
def test_triton_on_cuda_equals_reference(case, shape, channels):
    """Outputs, input and parameter gradients of the CUDA kernels equal the float64 reference."""
    check_equal(case, make_x(shape), channels, "triton", device="cuda")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("case", SUBSET_CASES, ids=SUBSET_IDS)
def test_triton_on_cuda_half_precision(case, dtype):
    check_equal(case, make_x((4, 3, 33, 17)), 3, "triton", dtype=dtype, device="cuda")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("case", SUBSET_CASES, ids=SUBSET_IDS)
def test_triton_on_cuda_extreme_and_strided_inputs(case):
    check_equal(case, make_x((2, 3, 13), extreme=True), 3, "triton", device="cuda")
    check_equal(case, make_x((2, 3, 6, 6)), 3, "triton", device="cuda", transform=lambda x: x.transpose(2, 3))


@cuda
@pytest.mark.cuda
def test_every_trainable_unit_runs_fused_on_cuda():
    """Each dispatched unit's module picks the Triton path on CUDA and matches its reference."""
    import adaptact as aa

    for name in aa.list_activations(trainable=True):
        torch.manual_seed(0)
        unit = aa.create(name, num_features=3).cuda().eval()
        x = make_x((4, 3, 9, 9)).float().cuda().requires_grad_(True)
        with K.use("auto"), K.record() as used:
            y = unit(x)
        with K.use("reference"):
            y_ref = unit(x)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {m}")
        if used:  # units with a GELU basis have no fused formula and stay on the reference
            assert used[-1] == ("reference" if "gelu" in name else "triton"), f"{name} ran on {used[-1]}"


def test_rpau_training_draws_the_same_coefficient_noise_in_c_and_triton(interpret):
    """uniform_k gives the same numbers in both languages (and the torch twin): RPAU's forward agrees."""
    from adaptact.kernels.fused import coefficient_uniform
    from adaptact.kernels.lowering import lower_rpau_training

    g = torch.Generator().manual_seed(0)
    x = 2.0 * torch.randn(3, 1500, generator=g)
    a, b = 0.5 * torch.randn(6, generator=g), 0.5 * torch.randn(4, generator=g)
    lowered = lower_rpau_training(x, a, b, 0.05)
    theta = lowered.theta.detach().contiguous()
    seed = 0x1234_5678_9ABC
    with K.use("triton"):
        y_triton = TritonEngine().forward(lowered.program, x, theta, seed)
    with AF.rrelu_uniform_source(lambda t: coefficient_uniform(t, seed).to(t.dtype)):
        ref = AF.rpau_training(x.double(), a.double(), b.double(), 0.05)
    torch.testing.assert_close(y_triton.double(), ref, rtol=1e-5, atol=1e-5)
    if "c" in K.available():
        torch.testing.assert_close(y_triton, CEngine().forward(lowered.program, x, theta, seed), rtol=1e-5, atol=1e-6)
